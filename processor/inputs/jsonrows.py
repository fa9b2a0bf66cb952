"""JSON arrays of objects and NDJSON → rows, streamed in bounded memory.

Columns are the union of the objects' keys in first-seen order. Nested objects are
flattened with dotted names (``{"a": {"b": 1}}`` → column ``a.b``); arrays (and empty
objects) stay one value, their compact JSON text. Two keys that flatten to the same
name (``"a.b"`` and ``"a": {"b"}``) stay two columns (the pipeline names the second
one ``a_b_2``) and the report lists them. A key repeated inside one object is a
rejected row, not a silently kept last value.

A top-level array is split into its elements by the standard ``json`` decoder
(``raw_decode`` from a position, over a buffer that holds one element at a time), so
no dependency is needed and each element's first line is known. A syntax error in
an array fails the file (nothing after it can be trusted); in NDJSON it rejects that
line only.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from processor.pipeline.errors import BadInput

from .spill import CsvSpill

# One array element, or one NDJSON line, may not be larger than this.
MAX_RECORD_CHARS = 32 * 1024 * 1024
_READ_CHARS = 1024 * 1024
_WHITESPACE = " \t\r\n"
INVALID_JSON = "invalid JSON"
NOT_AN_OBJECT = "not a JSON object"
DUPLICATE_KEY = "key repeated in an object"
FLATTENING = (
    "nested objects become columns with dotted names (a.b); arrays and empty objects "
    "are kept as their JSON text"
)

Path_ = tuple[str, ...]
_NESTED = frozenset({dict, list})


class _Duplicate(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs)
_PLAIN = json.JSONDecoder()


@dataclass
class Problem:
    line: int
    reason: str
    detail: str
    text: str


@dataclass
class Record:
    line: int
    value: Any = None
    problem: Problem | None = None


def text_stream(raw: BinaryIO) -> io.TextIOWrapper:
    # JSON is UTF-8 (RFC 8259); a BOM is tolerated.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")


def _decode_error(exc: UnicodeDecodeError) -> BadInput:
    return BadInput(f"this JSON is not valid UTF-8 ({exc.reason}); JSON must be UTF-8")


def _lines(raw: BinaryIO, limit: int) -> Iterator[bytes]:
    """The file's lines (split at LF), none longer than ``limit`` bytes."""
    # The pieces of a line not ended yet: joined once its end comes, so a long line
    # is copied once, not once per read.
    held: list[bytes] = []
    held_bytes = 0
    number = 0
    while True:
        chunk = raw.read(_READ_CHARS)
        if not chunk:
            break
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            number += 1
            yield b"".join([*held, chunk[start:end]]) if held else chunk[start:end]
            held, held_bytes = [], 0
            start = end + 1
        if start < len(chunk):
            held.append(chunk[start:])
            held_bytes += len(chunk) - start
            if held_bytes > limit:
                raise BadInput(f"line {number + 1} is longer than {limit} bytes; is this NDJSON?")
    if held:
        yield b"".join(held)


def ndjson_records(raw: BinaryIO) -> Iterator[Record]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    for number, data in enumerate(_lines(raw, 4 * MAX_RECORD_CHARS), start=1):
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise BadInput(
                f"line {number} is not valid UTF-8 ({exc.reason}); JSON must be UTF-8"
            ) from None
        line = text.rstrip("\r")
        if not line.strip():
            continue
        try:
            value = _DECODER.decode(line)
        except _Duplicate as exc:
            yield Record(number, problem=_duplicate(number, exc, line))
            continue
        except ValueError as exc:
            yield Record(number, problem=Problem(number, INVALID_JSON, str(exc), line))
            continue
        yield Record(number, value)


def _duplicate(line: int, exc: _Duplicate, text: str) -> Problem:
    return Problem(line, DUPLICATE_KEY, f"key {exc.args[0]!r} appears twice in one object", text)


def array_records(raw: BinaryIO) -> Iterator[Record]:
    """The elements of a top-level array, each with the line it starts on."""
    stream = text_stream(raw)
    buf = ""
    pos = 0
    line = 1
    eof = False

    def more(at_least: int) -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        try:
            chunk = stream.read(max(_READ_CHARS, at_least))
        except UnicodeDecodeError as exc:
            raise _decode_error(exc) from None
        if not chunk:
            eof = True
            return False
        buf = buf[pos:] + chunk
        pos = 0
        return True

    def skip_space() -> str:
        nonlocal pos, line
        while True:
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                if buf[pos] == "\n" or (buf[pos] == "\r" and buf[pos + 1 : pos + 2] != "\n"):
                    line += 1
                pos += 1
            if pos < len(buf) or not more(0):
                return buf[pos] if pos < len(buf) else ""

    def fail(message: str) -> BadInput:
        return BadInput(f"this JSON array is not valid at line {line}: {message}")

    def decode_element() -> tuple[Any, int, _Duplicate | None]:
        """The element at ``pos``, reading on while it may be cut by the buffer's end
        (a syntax error there may be an element not read whole yet)."""
        while True:
            repeated = None
            try:
                try:
                    value, end = _DECODER.raw_decode(buf, pos)
                except _Duplicate as exc:
                    repeated = exc
                    value, end = _PLAIN.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if eof:
                    raise fail(exc.msg) from None
            else:
                # A number at the end of the buffer may go on in the next read.
                if end < len(buf) or eof:
                    return value, end, repeated
            if len(buf) - pos > MAX_RECORD_CHARS:
                raise fail(f"an element is longer than {MAX_RECORD_CHARS} characters")
            more(len(buf) - pos)

    if skip_space() != "[":
        raise fail("it does not start with '['")
    pos += 1
    if skip_space() == "]":
        pos += 1
    else:
        while True:
            if not skip_space():
                raise fail("it ends before its closing ']'")
            value, end, repeated = decode_element()
            text = buf[pos:end]
            if repeated is not None:
                yield Record(line, problem=_duplicate(line, repeated, text))
            else:
                yield Record(line, value)
            line += text.count("\n") + text.count("\r") - text.count("\r\n")
            pos = end
            sep = skip_space()
            if sep == ",":
                pos += 1
                continue
            if sep == "]":
                pos += 1
                break
            raise fail(f"expected ',' or ']' after an element, found {sep[:1]!r}")
    if skip_space():
        raise fail("there is more after the array's closing ']'")


@dataclass
class Columns:
    """The union of flattened keys in first-seen order."""

    max_columns: int
    index: dict[Path_, int] = field(default_factory=dict)
    names: dict[str, list[Path_]] = field(default_factory=dict)
    as_json: set[Path_] = field(default_factory=set)

    def add(self, path: Path_) -> int:
        at = self.index.get(path)
        if at is None:
            at = self.index[path] = len(self.index)
            if at >= self.max_columns:
                raise BadInput(
                    f"the objects have more than {self.max_columns} distinct keys once "
                    f"flattened (MINI_MAX_COLUMNS); the first over it is {'.'.join(path)!r}"
                )
            self.names.setdefault(".".join(path), []).append(path)
        return at

    def collisions(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "keys": [list(p) for p in paths]}
            for name, paths in self.names.items()
            if len(paths) > 1
        ]


def flatten(obj: dict[str, Any], prefix: Path_ = ()) -> list[tuple[Path_, Any]]:
    out: list[tuple[Path_, Any]] = []
    _flatten_into(obj, prefix, out)
    return out


def _flatten_into(obj: dict[str, Any], prefix: Path_, out: list[tuple[Path_, Any]]) -> None:
    for key, value in obj.items():
        path = (*prefix, key)
        if type(value) is dict and value:
            _flatten_into(value, path, out)
        else:
            out.append((path, value))


def cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def problem_of(record: Record) -> Problem | None:
    if record.problem is not None:
        return record.problem
    if not isinstance(record.value, dict):
        kind = type(record.value).__name__
        kind = {"list": "an array", "str": "a string", "NoneType": "null"}.get(kind, f"a {kind}")
        text = json.dumps(record.value, ensure_ascii=False)
        return Problem(record.line, NOT_AN_OBJECT, f"this value is {kind}, not an object", text)
    return None


def json_to_csv(
    open_raw: Callable[[], BinaryIO],
    kind: str,
    spill: CsvSpill,
    max_columns: int,
    reject: Callable[[Problem], None],
) -> dict[str, Any]:
    """Two passes over the source: the columns, then the rows."""
    read = array_records if kind == "json" else ndjson_records
    columns = Columns(max_columns)
    objects = 0
    # Objects of one shape (the same keys, no nested object or array) add nothing new
    # after the first: most files are one shape, and this skips flattening them.
    flat_shapes: set[tuple[str, ...]] = set()
    with open_raw() as raw:
        for record in read(raw):
            if problem_of(record) is not None:
                continue
            objects += 1
            value = record.value
            nested = not _NESTED.isdisjoint(map(type, value.values()))
            if not nested and tuple(value) in flat_shapes:
                continue
            for path, item in flatten(value):
                columns.add(path)
                if isinstance(item, list | dict):
                    columns.as_json.add(path)
            if not nested:
                flat_shapes.add(tuple(value))
    if not objects:
        what = "array" if kind == "json" else "file"
        raise BadInput(f"this JSON {what} holds no objects, so there are no rows to read")
    width = len(columns.index)
    spill.write([".".join(p) for p in columns.index], None)
    # The columns of a flat shape's keys, in their order.
    positions = {shape: [columns.index[(key,)] for key in shape] for shape in flat_shapes}
    with open_raw() as raw:
        for record in read(raw):
            problem = problem_of(record)
            if problem is not None:
                reject(problem)
                continue
            row: list[str | None] = [None] * width
            value = record.value
            at = positions.get(tuple(value))
            if at is not None and _NESTED.isdisjoint(map(type, value.values())):
                for i, item in zip(at, value.values(), strict=True):
                    row[i] = item if type(item) is str else cell(item)
            else:
                for path, item in flatten(value):
                    row[columns.index[path]] = cell(item)
            spill.write(row, record.line)
    collisions = columns.collisions()
    return {
        "format": kind,
        "flattening": FLATTENING,
        "objects": objects,
        "nested_columns": sum(1 for p in columns.index if len(p) > 1),
        "json_text_columns": [".".join(p) for p in columns.index if p in columns.as_json],
        "collisions": collisions,
        "line_numbers": "lines of the file (the line each object starts on)",
    }
