from __future__ import annotations

from urllib.parse import quote

from ..versions import Served


def dataset_links(served: Served) -> dict[str, str]:
    """Links of one version (its immutable URLs) and of its dataset (the stable one)."""
    base = f"/datasets/{served.id}"
    return {
        "self": base,
        "dataset": f"/datasets/{quote(served.name)}",
        "status": f"{base}/status",
        "report": f"{base}/report",
        "rejects": f"{base}/rejects",
        "logs": f"{base}/logs",
        "download": f"{base}/download",
        "versions": f"{base}/versions",
        "ui": f"/ui/datasets/{served.id}",
    }
