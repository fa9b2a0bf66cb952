"""NetworkPolicy semantics, for the flows the deployment cares about.

A connection from pod A to pod B on a port is allowed when A is not isolated for
egress or some policy selecting A allows it, and B is not isolated for ingress
or some policy selecting B allows it (only B's policies in our namespace count;
other namespaces have no policies here). Named ports are not used by the
manifests and are refused, so a rule that relies on one fails loudly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    ip: str = "10.1.0.10"


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_matches(
    peer: Manifest, other: Endpoint, policy_ns: str, ns_labels: dict[str, dict[str, str]]
) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(other.ip)
        if ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], ns_labels.get(other.namespace, {})):
            return False
    elif other.namespace != policy_ns:
        return False
    return selects(peer.get("podSelector", {}), other.labels)


def _port_matches(ports: list[Manifest] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        first = p.get("port")
        if first is None:
            return True
        if not isinstance(first, int):
            raise ValueError(f"named port {first!r} not supported here")
        if first <= port <= int(p.get("endPort", first)):
            return True
    return False


def _side_allows(
    policies: list[Manifest],
    pod: Endpoint,
    other: Endpoint,
    port: int,
    protocol: str,
    direction: str,
    ns_labels: dict[str, dict[str, str]],
) -> bool:
    policy_type, rules_key, peers_key = {
        "egress": ("Egress", "egress", "to"),
        "ingress": ("Ingress", "ingress", "from"),
    }[direction]
    relevant = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and selects(p["spec"]["podSelector"], pod.labels)
        and policy_type in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not relevant:
        return True  # not isolated in this direction
    ns = pod.namespace
    for policy in relevant:
        for rule in policy["spec"].get(rules_key, []):
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(pr, other, ns, ns_labels) for pr in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(
    policies: list[Manifest],
    src: Endpoint,
    dst: Endpoint,
    port: int,
    ns_labels: dict[str, dict[str, str]],
    protocol: str = "TCP",
) -> bool:
    return _side_allows(policies, src, dst, port, protocol, "egress", ns_labels) and _side_allows(
        policies, dst, src, port, protocol, "ingress", ns_labels
    )
