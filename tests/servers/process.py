"""What every test-server harness needs: free ports, and children that die with us."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (all held open until every one is picked)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def die_with_parent() -> None:
    """preexec_fn: SIGTERM the server if the test process dies without cleaning up.

    Linux only, and tied to the thread that forks; servers start from the main thread.
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
