"""The runner port: how a queued dataset gets a processor run."""

from __future__ import annotations

from typing import Protocol


class Runner(Protocol):
    def start(self) -> None:
        """Begin accepting work and resume datasets a previous process left unfinished."""
        ...

    def submit(self, dataset_id: str) -> None:
        """Launch processing for a dataset that is queued in the catalog."""
        ...

    def stop(self) -> None: ...
