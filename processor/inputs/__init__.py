"""The inputs partners send, turned into what the CSV pipeline reads.

:func:`prepare` looks at the content (never only the name): gzip (``1f 8b``), zip
(``PK 03 04``: an xlsx when it holds ``[Content_Types].xml`` and ``xl/``, an ods when
its ``mimetype`` says so, else a zip of exactly one CSV or JSON file), OLE2 (a legacy
.xls), a JSON array or NDJSON; anything else is CSV, and the pipeline's own checks
refuse what is not (PDF, Parquet, XML, ...). Compressed files are decompressed as they
are read; workbooks and JSON are written once to a CSV on local disk. One pipeline
then detects, types, cleans and rejects them all, and the report's ``input`` says
what the file was and how it was read.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from core.sniff import (
    JSON_ARRAY,
    JSON_OBJECT,
    NDJSON,
    container_format,
    decode_head,
    text_format,
)
from processor.pipeline.errors import BadInput
from processor.pipeline.options import ProcessOptions
from processor.pipeline.rejects import ContractRejects

from .compressed import (
    Counted,
    data_members,
    gzip_member_name,
    only_member,
    open_gzip,
    open_member,
    zip_kind,
)
from .jsonrows import Problem, json_to_csv
from .linemap import LineMap
from .spill import CsvSpill
from .spreadsheet import sheet_to_csv

OpenInput = Callable[[], BinaryIO]
# Enough of the start to tell the formats apart (as process.SNIFF_CHARS for text).
HEAD_BYTES = 64 * 1024
_SNIFF_CHARS = 4096
_COPY = 1024 * 1024


@dataclass
class Prepared:
    """What the CSV pipeline reads instead of the upload, and how it was made."""

    open: OpenInput
    options: ProcessOptions
    info: dict[str, Any]
    # Set for generated CSVs: source lines of their lines, and rows the reading refused.
    linemap: LineMap | None = None
    rejects: ContractRejects | None = None
    counted: Counted | None = None
    # A workbook's header is one of its rows; a JSON file's is made from its keys.
    header_in_source: bool = False

    def report(self) -> dict[str, Any]:
        info = dict(self.info)
        if self.counted is not None:
            info["decompressed_bytes"] = self.counted.bytes
        if self.linemap is not None:
            # The report's source and detection then describe that CSV, not the file.
            info["read_as"] = "a UTF-8, comma-separated CSV written from it"
        return info

    def source_lines(self, report: dict[str, Any]) -> None:
        """The report's header line as the source's (a sheet row; none for JSON)."""
        if self.linemap is None:
            return
        header = report["source"]["header"]
        if header.get("line") is not None:
            header["line"] = self.linemap.line(header["line"]) if self.header_in_source else None


def read_head(open_input: OpenInput, size: int) -> bytes:
    with open_input() as stream:
        return _read(stream, size)


def _read(stream: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: the first read of a CSV goes on from the
    bytes looked at here instead of opening the object once more (a request on S3)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._head:
            n = len(self._head) if size is None or size < 0 else min(size, len(self._head))
            data = bytes(self._head[:n])
            self._head = self._head[n:]
            return data
        return self._stream.read(-1 if size is None else size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


def _reopen(open_raw: OpenInput, head: bytes, stream: BinaryIO) -> OpenInput:
    first: list[BinaryIO] = [stream]

    def open_input() -> BinaryIO:
        if first:
            return _Prefixed(head, first.pop())  # type: ignore[return-value]
        return open_raw()

    return open_input


def spill_raw(open_raw: OpenInput, path: Path) -> Path:
    """A local copy: zip and workbook readers need to seek."""
    with open_raw() as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst, _COPY)
    return path


def prepare(open_raw: OpenInput, work: Path, options: ProcessOptions) -> Prepared:
    stream = open_raw()
    try:
        head = _read(stream, HEAD_BYTES)
        kind = container_format(head)
        if kind is None:
            return _text(_reopen(open_raw, head, stream), work, options, {"format": "csv"}, head)
    except BaseException:
        stream.close()
        raise
    stream.close()
    cap = options.max_decompressed_bytes
    if kind == "gzip":
        counted = Counted()
        info: dict[str, Any] = {"format": "gzip", "member": gzip_member_name(head)}
        prepared = _text(lambda: open_gzip(open_raw, cap, counted), work, options, info)
        prepared.counted = counted
        return prepared
    if kind == "zip":
        path = spill_raw(open_raw, work / "input.zip")
        what, infos = zip_kind(path)
        if what != "zip":
            return _workbook(path, what, work, options)
        files, ignored = data_members(infos)
        member = only_member(files, cap)
        counted = Counted()
        info = {"format": "zip", "member": member.filename}
        if ignored:
            info["ignored_members"] = ignored[:10]
        prepared = _text(lambda: open_member(path, member, cap, counted), work, options, info)
        prepared.counted = counted
        return prepared
    if kind == "ole":
        return _workbook(spill_raw(open_raw, work / "input.xls"), "xls", work, options)
    raise AssertionError(f"unknown container {kind}")


def _text(
    open_input: OpenInput,
    work: Path,
    options: ProcessOptions,
    info: dict[str, Any],
    head: bytes | None = None,
) -> Prepared:
    if head is None:
        head = read_head(open_input, HEAD_BYTES)
    if info["format"] != "csv":
        inner = container_format(head)
        if inner is not None:
            raise BadInput(
                f"this {info['format']} file holds another compressed file or a workbook "
                f"({inner}); upload the workbook itself, or a CSV or JSON file compressed once"
            )
    kind = text_format(decode_head(head)[:_SNIFF_CHARS])
    if kind == JSON_OBJECT:
        kind = NDJSON if _one_object_per_line(head) else kind
    if kind == JSON_OBJECT:
        raise BadInput(
            "this file is a JSON object, not an array of objects or NDJSON (one object "
            "per line); put the rows in a top-level array and upload that"
        )
    if kind in (JSON_ARRAY, NDJSON):
        fmt = "json" if kind == JSON_ARRAY else "ndjson"
        return _json(open_input, fmt, work, options, info)
    # CSV; XML and HTML fail in the pipeline's detection, with the API's words.
    if info["format"] != "csv":
        info["content"] = "csv"
    return Prepared(open_input, options, info)


def _one_object_per_line(head: bytes) -> bool:
    """A single-line JSON object is NDJSON of one row; one spread over lines is not."""
    first = decode_head(head).lstrip().split("\n", 1)[0]
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def _json(
    open_input: OpenInput, fmt: str, work: Path, options: ProcessOptions, info: dict[str, Any]
) -> Prepared:
    spill = CsvSpill(work / "input.csv")
    rejects = ContractRejects(work / "input-rejects.csv", ",", '"')

    def reject(problem: Problem) -> None:
        rejects.add(problem.line, problem.reason, problem.reason, problem.detail, (), problem.text)

    try:
        facts = json_to_csv(open_input, fmt, spill, options.max_columns, reject)
    except BaseException:
        spill.abort()
        rejects.close()
        raise
    linemap = spill.close()
    rejects.close()
    if info["format"] != "csv":
        facts = {**facts, "compression": info["format"], "member": info.get("member")}
        # The report names the outer container first (e.g. gzip), then what it held.
        facts["format"], facts["content"] = info["format"], fmt
    # The generated CSV has its header on line 1 and is comma-separated UTF-8; the CSV
    # options (skip_rows, header_row, delimiter, encoding) say nothing about JSON.
    chosen = dataclasses.replace(
        options, encoding="utf-8", delimiter=",", header_row=0, no_header=False, skip_rows=None
    )
    return Prepared(lambda: spill.path.open("rb"), chosen, facts, linemap, rejects)


def _workbook(path: Path, what: str, work: Path, options: ProcessOptions) -> Prepared:
    spill = CsvSpill(work / "sheet.csv")
    try:
        facts = sheet_to_csv(path, what, options.sheet, spill)
    except BaseException:
        spill.abort()
        raise
    linemap = spill.close()
    path.unlink(missing_ok=True)
    # Header rows, title rows and skip_rows keep their meaning on a sheet's rows.
    chosen = dataclasses.replace(options, encoding="utf-8", delimiter=",")
    return Prepared(lambda: spill.path.open("rb"), chosen, facts, linemap, header_in_source=True)


__all__ = ["HEAD_BYTES", "LineMap", "Prepared", "prepare"]
