"""What one SQL query may use fits the API pod it runs in."""

from __future__ import annotations

from core.settings import SqlSettings

from .manifests import Manifest, containers, find, pod_template

_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def _bytes(quantity: str) -> int:
    for suffix, factor in _UNITS.items():
        if quantity.endswith(suffix):
            return int(quantity.removesuffix(suffix)) * factor
    return int(quantity)


def test_sql_threads_and_memory_fit_the_api_pod(rendered: list[Manifest]) -> None:
    config = find(rendered, "ConfigMap", "mini-config")["data"]
    template = pod_template(find(rendered, "Deployment", "mini-api"))
    (api,) = [c for c in containers(template) if c["name"] == "api"]
    limits = api["resources"]["limits"]
    cpus = float(str(limits["cpu"]).removesuffix("m")) / (1000 if "m" in str(limits["cpu"]) else 1)
    assert 1 <= int(config["MINI_SQL__THREADS"]) <= max(1, int(cpus))
    memory = int(config.get("MINI_SQL__MEMORY_LIMIT_BYTES", SqlSettings().memory_limit_bytes))
    # DuckDB's buffers stay within half the pod: the rest is the API's own caches.
    assert memory <= _bytes(limits["memory"]) // 2
