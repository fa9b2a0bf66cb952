"""gzip and single-member zip: the decompressed bytes as a stream, with a cap.

Nothing is decompressed to disk or memory as a whole: each ``open()`` decompresses
from the start as it is read (the pipeline reads a sample, then the file once or
twice). The decompressed size is counted as it is read; past the cap
(MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES) the read fails, so a zip bomb stops after
the cap's worth of work and nothing is written. A zip's declared sizes are checked
first (they may lie; the count does not).
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from processor.pipeline.errors import BadInput

# gzip header flags (RFC 1952).
_FEXTRA, _FNAME = 0x04, 0x08
_MAX_NAME = 1024
_MEMBERS_NAMED = 10


def _too_big(cap: int) -> BadInput:
    return BadInput(
        f"this file decompresses to more than {cap} bytes, the limit "
        f"(MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES); nothing was kept"
    )


@dataclass
class Counted:
    """What the last complete read of the decompressed stream came to."""

    bytes: int | None = None


class CappedStream(io.RawIOBase):
    """The decompressed bytes of ``inner``; BadInput once more than ``cap`` came out."""

    def __init__(
        self, inner: BinaryIO, cap: int, counted: Counted, damaged: str, close: Callable[[], None]
    ) -> None:
        self._inner = inner
        self._cap = cap
        self._counted = counted
        self._damaged = damaged
        self._close = close
        self._size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size == 0:
            return b""
        if size is None or size < 0:
            # All that is left, within the cap (read on until it says so).
            parts = []
            while chunk := self.read(1024 * 1024):
                parts.append(chunk)
            return b"".join(parts)
        want = size
        # One byte more than the cap may hold is enough to know it is over.
        want = min(want, self._cap + 1 - self._size)
        try:
            data = self._inner.read(want)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise BadInput(f"{self._damaged}: {exc}") from None
        self._size += len(data)
        if self._size > self._cap:
            raise _too_big(self._cap)
        if not data:
            self._counted.bytes = self._size
        return data

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                self._close()
        super().close()


def gzip_member_name(head: bytes) -> str | None:
    """The original file name a gzip header carries (FNAME), if any."""
    if len(head) < 10 or not head[3] & _FNAME:
        return None
    at = 10
    if head[3] & _FEXTRA:
        if len(head) < 12:
            return None
        at += 2 + int.from_bytes(head[10:12], "little")
    end = head.find(b"\x00", at, at + _MAX_NAME)
    return head[at:end].decode("latin-1") if end > at else None


def open_gzip(open_raw: Callable[[], BinaryIO], cap: int, counted: Counted) -> BinaryIO:
    raw = open_raw()
    inner = gzip.GzipFile(fileobj=raw, mode="rb")
    stream = CappedStream(
        inner,  # type: ignore[arg-type]  # GzipFile reads bytes like any BinaryIO
        cap,
        counted,
        "this gzip file is damaged or cut short",
        raw.close,
    )
    return io.BufferedReader(stream, 1024 * 1024)


def zip_kind(path: Path) -> tuple[str, list[zipfile.ZipInfo]]:
    """ "xlsx", "ods" or "zip" (with its file members), from the archive's contents."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {i.filename for i in infos}
            if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
                return "xlsx", infos
            if "mimetype" in names:
                mimetype = archive.read("mimetype")[:100]
                if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
                    return "ods", infos
                raise BadInput(
                    f"this is an OpenDocument file of type {mimetype.decode('latin-1')!r}, "
                    "not a spreadsheet or a zipped CSV"
                )
            if "[Content_Types].xml" in names:
                raise BadInput(
                    "this is an Office document (Word or PowerPoint), not a workbook or a "
                    "zipped CSV"
                )
    except zipfile.BadZipFile as exc:
        raise BadInput(f"this ZIP archive cannot be opened: {exc}") from None
    return "zip", [i for i in infos if not i.is_dir()]


# macOS's Finder adds a resource-fork copy of each file under __MACOSX/ when it zips:
# not the partner's data, so a zip of one CSV made on a Mac still holds one file.
MAC_METADATA = "__MACOSX/"


def data_members(infos: list[zipfile.ZipInfo]) -> tuple[list[zipfile.ZipInfo], list[str]]:
    """The members that are files of the sender's, and the names of those left out."""
    kept = [i for i in infos if not i.filename.startswith(MAC_METADATA)]
    return kept, [i.filename for i in infos if i.filename.startswith(MAC_METADATA)]


def only_member(infos: list[zipfile.ZipInfo], cap: int) -> zipfile.ZipInfo:
    if len(infos) != 1:
        names = ", ".join(repr(i.filename) for i in infos[:_MEMBERS_NAMED])
        more = f" and {len(infos) - _MEMBERS_NAMED} more" if len(infos) > _MEMBERS_NAMED else ""
        if not infos:
            raise BadInput("this ZIP archive holds no file")
        raise BadInput(
            f"this ZIP archive holds {len(infos)} files ({names}{more}); upload a zip with "
            "exactly one CSV or JSON file in it, or each file on its own"
        )
    member = infos[0]
    if member.flag_bits & 0x1:
        raise BadInput(f"{member.filename!r} in this ZIP archive is encrypted")
    if member.file_size > cap:
        raise _too_big(cap)
    return member


def open_member(path: Path, member: zipfile.ZipInfo, cap: int, counted: Counted) -> BinaryIO:
    archive = zipfile.ZipFile(path)
    try:
        inner = archive.open(member)
    except (zipfile.BadZipFile, NotImplementedError, OSError) as exc:
        archive.close()
        raise BadInput(f"{member.filename!r} in this ZIP archive cannot be read: {exc}") from None
    stream = CappedStream(
        inner,  # type: ignore[arg-type]
        cap,
        counted,
        f"{member.filename!r} in this ZIP archive is damaged",
        archive.close,
    )
    return io.BufferedReader(stream, 1024 * 1024)
