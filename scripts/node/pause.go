// The sandbox ("pause") process of the test node's pods: it holds the pod's
// namespaces and sleeps until it is told to stop. No registry is reachable from
// the test machines, so scripts/build-node.sh builds this into a FROM-scratch image
// instead of pulling registry.k8s.io/pause. (The pods here share no PID
// namespace, so it has no orphans to reap.)
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
