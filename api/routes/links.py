from __future__ import annotations


def dataset_links(dataset_id: str) -> dict[str, str]:
    base = f"/datasets/{dataset_id}"
    return {
        "self": base,
        "status": f"{base}/status",
        "report": f"{base}/report",
        "rejects": f"{base}/rejects",
        "logs": f"{base}/logs",
        "versions": f"{base}/versions",
    }
