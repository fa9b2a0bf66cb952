"""Helpers for the processor pipeline tests: real files, real streams, no mocks."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow.parquet as pq
import pytest

from processor.pipeline import ProcessOptions, process_csv


class ForwardOnly(io.RawIOBase):
    """A file that refuses to seek or tell, like an S3 response body."""

    def __init__(self, path: Path, chunk: int | None = None) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._chunk = chunk  # return short reads, as network streams do

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def seek(self, *args: Any) -> int:
        raise OSError("seek is not allowed on this stream")

    def tell(self) -> int:
        raise OSError("tell is not allowed on this stream")

    def readinto(self, buffer: Any) -> int:
        size = len(buffer) if self._chunk is None else min(len(buffer), self._chunk)
        data = self._file.read(size)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


@dataclass
class Result:
    report: dict[str, Any]
    rows: list[dict[str, Any]]
    out_dir: Path
    opens: int
    streams: list[ForwardOnly] = field(default_factory=list)

    @property
    def parquet(self) -> pq.ParquetFile:
        return pq.ParquetFile(self.out_dir / "data.parquet")

    def column(self, name: str) -> list[Any]:
        return [row[name] for row in self.rows]

    def col_type(self, name: str) -> str:
        return str(next(c["type"] for c in self.report["columns"] if c["name"] == name))


def opener(
    path: Path, streams: list[ForwardOnly], chunk: int | None = None
) -> Callable[[], BinaryIO]:
    def open_input() -> BinaryIO:
        stream = ForwardOnly(path, chunk)
        streams.append(stream)
        return stream  # type: ignore[return-value]

    return open_input


@pytest.fixture
def run_csv(tmp_path: Path) -> Callable[..., Result]:
    """Write ``data`` to a file, process it through a forward-only stream, read back."""
    counter = {"n": 0}

    def run(data: bytes | str, chunk: int | None = None, **options: Any) -> Result:
        counter["n"] += 1
        src = tmp_path / f"input{counter['n']}.csv"
        src.write_bytes(data.encode() if isinstance(data, str) else data)
        out = tmp_path / f"out{counter['n']}"
        streams: list[ForwardOnly] = []
        report = process_csv(opener(src, streams, chunk), out, ProcessOptions(**options))
        assert json.loads((out / "report.json").read_text()) == report
        rows = pq.read_table(out / "data.parquet").to_pylist()
        assert all(s.closed for s in streams), "every stream must be closed"
        return Result(report, rows, out, len(streams), streams)

    return run


def cold_run_upload(tmp_path: Path, body: bytes) -> tuple[str, dict[str, str]]:
    """An upload on a local store under `tmp_path`, and the environment of a cold
    `python -m processor run --dataset-id ID` that reads it without the catalog."""
    import os
    import uuid

    from core import keys

    dataset_id = uuid.uuid4().hex
    raw = tmp_path / "objects" / "raw" / keys.raw_key(dataset_id)
    raw.parent.mkdir(parents=True)
    raw.write_bytes(body)
    (tmp_path / "objects" / "processed").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINI_")}
    env |= {"MINI_DATA_DIR": str(tmp_path), "MINI_PROCESSOR__UPDATE_CATALOG": "false"}
    return dataset_id, env
