"""Streaming multipart parsing: file bytes flow to storage as they arrive.

Runs in a worker thread. It pulls request chunks, feeds python-multipart's
push parser and yields the `file` part's bytes, validating as it goes. Any
error is raised from inside the generator, so the store aborts the object
and nothing is left behind.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from core.sniff import READABLE_TEXT, container_format, decode_head, not_csv_message, text_format

from .errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType

FILE_FIELD = "file"
SNIFF_BYTES = 1024
# Small form fields (e.g. a dataset name) are kept in memory up to this size.
MAX_FIELD_BYTES = 64 * 1024
MAX_FILENAME = 255
# A part's header line (Content-Disposition with its file name): long names are
# accepted and cut to MAX_FILENAME; beyond this the body is refused with a 400.
MAX_PART_HEADER = 16 * 1024

# Magic numbers of binary formats the processor cannot read: an empty zip, PDF, bzip2,
# xz, zstd, 7z, parquet. gzip, zip and OLE2 (xls) are read (core.sniff.container_format;
# what they hold is checked by the processor, which fails the version when it cannot).
BINARY_MAGIC = (
    b"PK\x05\x06",
    b"%PDF-",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x28\xb5\x2f\xfd",
    b"7z\xbc\xaf\x27\x1c",
    b"PAR1",
)
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def sniff_binary(head: bytes) -> str | None:
    """Why `head` (the first KiB of a file) cannot be read, or None when it may be CSV,
    a compressed file or a workbook."""
    if container_format(head) is not None:
        return None
    for magic in BINARY_MAGIC:
        if head.startswith(magic):
            return (
                "file looks like a compressed or binary document, not CSV text; the "
                "inputs read are CSV, JSON, NDJSON, xlsx, xls, ods, and gzip or zip of one file"
            )
    # UTF-16 text is full of NUL bytes, but announces itself with a BOM.
    if b"\x00" in head and not head.startswith(UTF16_BOMS):
        return "file contains NUL bytes: binary data, not CSV text"
    return None


def multipart_boundary(content_type: str) -> bytes:
    ctype, params = parse_options_header(content_type)
    if ctype != b"multipart/form-data":
        raise UnsupportedMediaType(
            "upload as multipart/form-data with a field named 'file' "
            f"(got Content-Type {content_type or 'none'!r})"
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary")
    return boundary


def clean_filename(raw: str) -> str:
    # Browsers on Windows send full paths; keep only the last component.
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:MAX_FILENAME] or "upload.csv"


@dataclass
class _Digest:
    max_bytes: int
    size: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    head: bytearray = field(default_factory=bytearray)
    sniffed: bool = False
    held: deque[bytes] = field(default_factory=deque)

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(
                f"file is larger than the limit of {self.max_bytes} bytes (MINI_MAX_UPLOAD_BYTES)"
            )
        self.sha256.update(data)
        if not self.sniffed:
            self.head += data[: SNIFF_BYTES - len(self.head)]
            if len(self.head) >= SNIFF_BYTES:
                self.check_head()
        self.held.append(data)

    @property
    def packed(self) -> bool:
        """gzip, zip or a workbook (read once the head is in): the Kubernetes runner sizes
        its Job for what it unpacks to."""
        return container_format(bytes(self.head)) is not None

    def check_head(self) -> None:
        self.sniffed = True
        reason = sniff_binary(bytes(self.head))
        if reason:
            raise UnsupportedMediaType(reason)
        if container_format(bytes(self.head)) is not None:
            return
        kind = text_format(decode_head(bytes(self.head)))
        if kind and kind not in READABLE_TEXT:
            # XML, HTML: text, but never a table the processor can read. (JSON arrays
            # and NDJSON are read; a lone JSON object fails in the processor.)
            raise UnsupportedMediaType(not_csv_message(kind))

    def release(self) -> Iterator[bytes]:
        # Nothing goes to storage before the first KiB passed the binary check.
        if self.sniffed:
            while self.held:
                yield self.held.popleft()

    def finish(self) -> None:
        if self.size == 0:
            raise Unprocessable("the uploaded file is empty")
        if not self.sniffed:
            self.check_head()


class MultipartFileStream:
    """Yields the bytes of the single `file` part of a multipart body."""

    def __init__(self, body: Iterator[bytes], boundary: bytes, max_bytes: int) -> None:
        self._body = body
        self.digest = _Digest(max_bytes)
        self.filename: str | None = None
        self.content_type: str | None = None
        self.fields: dict[str, str] = {}
        self._ended = False
        self._error: Exception | None = None
        self._part: str | None = None  # "file", "field:<name>" or "skip"
        self._part_buf = bytearray()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._file_done = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
            max_header_size=MAX_PART_HEADER,
        )

    # Parser callbacks: they record errors instead of raising, because the
    # parser's own state would be left half-updated by an exception.
    def _on_part_begin(self) -> None:
        self._headers = {}
        self._part = None
        self._part_buf = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def _on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name == FILE_FIELD:
            if self.filename is not None:
                self._fail(Unprocessable("send one file per upload"))
                self._part = "skip"
                return
            raw_name = params.get(b"filename", b"upload.csv").decode("utf-8", "replace")
            self.filename = clean_filename(raw_name)
            ctype = self._headers.get("content-type")
            self.content_type = ctype.decode("latin-1") if ctype else None
            self._part = "file"
        elif name and b"filename" not in params:
            self._part = f"field:{name}"
        else:
            self._part = "skip"

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._error is not None:
            return
        chunk = data[start:end]
        if self._part == "file":
            try:
                self.digest.feed(chunk)
            except Exception as exc:  # recorded, re-raised from the generator
                self._fail(exc)
        elif self._part and self._part.startswith("field:"):
            self._part_buf += chunk
            if len(self._part_buf) > MAX_FIELD_BYTES:
                self._fail(PayloadTooLarge(f"form field {self._part[6:]!r} is too large"))

    def _on_part_end(self) -> None:
        if self._part == "file":
            self._file_done = True
        elif self._part and self._part.startswith("field:"):
            self.fields[self._part[6:]] = self._part_buf.decode("utf-8", "replace")

    def _on_end(self) -> None:
        self._ended = True

    def _fail(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc

    def chunks(self) -> Iterator[bytes]:
        received = 0
        for raw in self._body:
            received += len(raw)
            try:
                self._parser.write(raw)
            except MultipartParseError as exc:
                raise BadRequest(f"malformed multipart body: {exc}") from None
            if self._error is not None:
                raise self._error
            if self._file_done and not self.digest.sniffed:
                self.digest.finish()
            yield from self.digest.release()
        if received == 0:
            raise Unprocessable("the request body is empty; send a file in the field 'file'")
        # python-multipart's finalize() accepts a truncated body; only on_end
        # proves the closing boundary arrived.
        if not self._ended:
            raise BadRequest("the multipart body ended before its closing boundary")
        if self.filename is None:
            raise Unprocessable("no file in the upload: send it in the form field 'file'")
        self.digest.finish()
        yield from self.digest.release()


class RawBodyStream:
    """A body that is the file itself (`curl --data-binary @x.csv -H 'Content-Type: text/csv'`)."""

    def __init__(self, body: Iterator[bytes], filename: str, max_bytes: int) -> None:
        self._body = body
        self.digest = _Digest(max_bytes)
        self.filename = clean_filename(filename)
        self.content_type = "text/csv"
        self.fields: dict[str, str] = {}

    def chunks(self) -> Iterator[bytes]:
        for raw in self._body:
            self.digest.feed(raw)
            yield from self.digest.release()
        self.digest.finish()
        yield from self.digest.release()
