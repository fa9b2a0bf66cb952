"""Encoding detection on a sample, and a stream that hands pyarrow validated UTF-8.

pyarrow's own UTF-8 check reports neither where nor which byte is wrong, and its
transcoding for other encodings does not either, so every byte goes through
:class:`Utf8Stream` first. That gives BadInput messages with the byte offset in the
*original* file and lets pyarrow skip its check.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from . import _native
from .errors import BadInput

# UTF-32 LE must be tested before UTF-16 LE: its BOM starts with the UTF-16 one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx/.ods spreadsheet?)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office document (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"PAR1", "a Parquet file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

# Scripts for which a cp1252 reading would be mojibake rather than a near miss.
_NON_LATIN_ALPHABETS = (
    "CJK",
    "Hiragana",
    "Katakana",
    "Hangul",
    "Cyrillic",
    "Greek",
    "Arabic",
    "Hebrew",
    "Thai",
    "Devanagari",
    "Bopomofo",
)


@dataclass(frozen=True)
class EncodingInfo:
    encoding: str  # Python codec name, e.g. "utf-8", "utf-16-le", "cp1252"
    bom: bool
    bom_length: int
    detected_by: str  # "option" | "bom" | "utf-8" | "charset-normalizer"


def canonical_codec(name: str) -> str:
    codec = codecs.lookup(name).name
    return "utf-8" if codec == "utf-8-sig" else codec


def _bom_of(sample: bytes) -> tuple[bytes, str] | None:
    for bom, codec in _BOMS:
        if sample.startswith(bom):
            return bom, codec
    return None


def _label(codec: str) -> str:
    return codec.upper() if codec.startswith("utf") else codec


def decode_error(codec: str, offset: int, byte: int | None) -> BadInput:
    what = f"byte 0x{byte:02x}" if byte is not None else "an incomplete character"
    return BadInput(
        f"the file is not valid {_label(codec)}: {what} at byte offset {offset} cannot be "
        f"decoded; save the file as UTF-8 or choose its encoding"
    )


def sniff_binary(sample: bytes) -> None:
    """Raise BadInput when the bytes are clearly not a text file."""
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            raise BadInput(f"this is not a CSV file: it looks like {what}")
    nul = sample.find(b"\x00")
    if nul >= 0:
        raise BadInput(f"this looks like a binary file, not CSV: NUL byte at byte offset {nul}")


def detect_encoding(sample: bytes, at_eof: bool, forced: str | None) -> EncodingInfo:
    """Pick the codec for the whole file from its first bytes.

    Order: the user's choice, a BOM, strict UTF-8, then a single-byte Western codepage
    when charset-normalizer agrees the text is in a Latin script. Broken UTF-8 (valid
    multi-byte sequences followed by an invalid byte) is an error, not a cp1252 file.
    """
    found = _bom_of(sample)
    if forced is not None:
        codec = canonical_codec(forced)
        if found and (found[1] == codec or found[1].startswith(codec + "-")):
            return EncodingInfo(found[1], True, len(found[0]), "option")
        if codec in ("utf-16", "utf-32"):
            # Without a BOM Python would pick the platform byte order; make it explicit.
            codec += "-le"
        return EncodingInfo(codec, False, 0, "option")
    if found:
        return EncodingInfo(found[1], True, len(found[0]), "bom")
    utf16 = _utf16_without_bom(sample)
    if utf16 is not None:
        return EncodingInfo(utf16, False, 0, "nul-pattern")
    sniff_binary(sample)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(sample, final=at_eof)
        return EncodingInfo("utf-8", False, 0, "utf-8")
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    if not sample[:bad_at].isascii():
        raise decode_error("utf-8", bad_at, sample[bad_at])
    guess = _latin_guess(sample)
    if guess is None:
        raise decode_error("utf-8", bad_at, sample[bad_at])
    return EncodingInfo(guess, False, 0, "charset-normalizer")


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text without a BOM: ASCII characters leave a NUL in every other byte.

    Only when NULs sit mostly at odd (LE) or even (BE) positions *and* the sample
    decodes to text without control characters; anything else stays binary.
    """
    body = sample[: len(sample) - len(sample) % 2][: 1 << 16]
    if len(body) < 4 or body.count(0) < len(body) // 4:
        return None
    even, odd = body[0::2].count(0), body[1::2].count(0)
    if odd > 3 * even:
        codec = "utf-16-le"
    elif even > 3 * odd:
        codec = "utf-16-be"
    else:
        return None
    try:
        text = codecs.getincrementaldecoder(codec)("strict").decode(body, final=False)
    except UnicodeDecodeError:
        return None
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\r\n")
    return codec if text and controls <= len(text) // 100 else None


# Multi-byte East Asian codepages: trusted when charset-normalizer names one of them
# and the whole sample decodes with it (Latin text almost never does).
_CJK_CODECS = frozenset(
    {"big5", "cp950", "big5hkscs", "gb2312", "gbk", "gb18030", "shift_jis", "cp932"}
    | {"euc_jp", "euc_kr", "cp949", "iso2022_jp"}
)


def _latin_guess(sample: bytes) -> str | None:
    """The codepage of a file that is not UTF-8.

    Latin-script text is read as cp1252: charset-normalizer cannot tell cp1250 from
    cp1252 on Portuguese or Spanish text, so its exact codepage is not trusted. When
    cp1252 cannot decode the bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D are unassigned) the
    file is from a Mac: Mac Roman assigns letters to all of 0x80-0x9F, where Latin-1
    has only control characters. East Asian codepages are taken as detected.
    """
    # Imported here: only files that are not UTF-8 need it.
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None or best.encoding.startswith(("utf", "ascii")):
        return None
    guessed = canonical_codec(best.encoding)
    if guessed in _CJK_CODECS:
        return guessed if _decodes(sample, guessed) else None
    if any(a.startswith(_NON_LATIN_ALPHABETS) for a in best.alphabets):
        return None
    for codec in ("cp1252", "mac_roman", guessed):
        if _decodes(sample, codec):
            return codec
    return None


def _decodes(sample: bytes, codec: str) -> bool:
    try:
        codecs.getincrementaldecoder(codec)("strict").decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


class RawDigest:
    """sha256 of every source byte, and (for UTF-8) strict validation, in a thread.

    Both run off the parsing thread: hashlib releases the GIL and the parser does not
    need it, so on two cores they cost almost no wall time. Validation that lags
    behind the parser is safe because nothing is published before :meth:`finish`
    has confirmed every byte; :meth:`error` lets the caller prefer this precise
    message when a later stage trips over the same bad bytes first.
    """

    _DEPTH = 8

    def __init__(self, validate_utf8: bool) -> None:
        self._sha = hashlib.sha256()
        self._validate = validate_utf8
        self._held = b""  # the start of a character split between two chunks
        self._queue: queue.Queue[tuple[bytes, int] | None] = queue.Queue(self._DEPTH)
        self._error: BadInput | None = None
        self.size = 0
        self._thread = threading.Thread(target=self._run, name="raw-digest", daemon=True)
        self._thread.start()

    def feed(self, raw: bytes, start: int) -> None:
        """``raw`` are source bytes from offset ``start``; b"" marks the end."""
        self._queue.put((raw, start))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            try:
                self._digest(*item)
            finally:
                self._queue.task_done()

    def _digest(self, raw: bytes, start: int) -> None:
        self._sha.update(raw)
        self.size += len(raw)
        if not self._validate or self._error is not None:
            return
        held = self._held
        if not held and raw.isascii() and raw:
            return
        data = held + raw if held else raw
        valid, incomplete = _native.utf8_check(data)
        if valid == len(data):
            self._held = b""
        elif incomplete and raw:
            self._held = data[valid:]
        else:
            # Python's decoder words the error (and finds its offset) exactly as the
            # transcoding path does; it runs only on bytes known to be bad.
            decoder = codecs.getincrementaldecoder("utf-8")("strict")
            try:
                decoder.decode(held, final=False)
                decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                self._error = _decode_failure("utf-8", start, held, raw, exc, not raw)
            else:
                # Unreachable while the two agree; the codec has the last word.
                self._held = decoder.getstate()[0]

    def error(self) -> BadInput | None:
        """The validation error among the bytes fed so far, once they are all checked."""
        if self._thread.is_alive():
            self._queue.join()
        return self._error

    def finish(self) -> str:
        """Wait for the thread; raise the validation error, else return the sha256."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._sha.hexdigest()

    def abandon(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


def _decode_failure(
    codec: str, start: int, held: bytes, raw: bytes, exc: UnicodeDecodeError, final: bool
) -> BadInput:
    # exc.start counts from the bytes the decoder held back from the last chunk.
    offset = start - len(held) + exc.start
    joined = held + raw
    truncated = final and exc.reason == "unexpected end of data"
    byte = None if truncated or exc.start >= len(joined) else joined[exc.start]
    return decode_error(codec, offset, byte)


class Utf8Stream(io.RawIOBase):
    """Read-only, forward-only stream of UTF-8 bytes decoded from ``source``.

    UTF-8 input is passed through without copying (validated here, or by ``digest``
    in its own thread); other codecs are transcoded. Decode errors and NUL characters
    raise BadInput with the byte offset in the source. pyarrow re-raises exceptions
    from ``read`` unchanged. The last two chunks handed out are kept as ``tail``, so
    the end of the file can be re-read without a second pass.
    """

    _CHUNK = 1 << 20

    def __init__(
        self,
        source: BinaryIO,
        info: EncodingInfo,
        digest: RawDigest | None = None,
        transform: Callable[[str, bool], str] | None = None,
    ) -> None:
        super().__init__()
        # A text transform (aligned columns) needs every chunk decoded.
        self._transform = transform
        self._source = source
        self._codec = info.encoding
        self._decoder = codecs.getincrementaldecoder(info.encoding)("strict")
        self._digest = digest
        self._inline_check = info.encoding != "utf-8" or digest is None or transform is not None
        self._skip = info.bom_length
        self._consumed = 0  # source bytes read so far
        self._pending = b""  # output not yet handed out
        self._eof = False
        self._last = b"\n"  # last byte handed out
        self._tail: list[bytes] = [b"", b""]

    @property
    def at_eof(self) -> bool:
        return self._eof and not self._pending

    @property
    def tail(self) -> bytes:
        """The last 1-2 MiB of UTF-8 output (the whole output for small files)."""
        return self._tail[0] + self._tail[1]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._pending]
            self._pending = b""
            while not self._eof:
                parts.append(self._next_chunk(self._CHUNK))
            return b"".join(parts)
        if not self._pending and not self._eof:
            chunk = self._next_chunk(max(size, self._CHUNK))
            if len(chunk) == size:
                return chunk  # the common case: no copy at all
            self._pending = chunk
        parts, have = [self._pending], len(self._pending)
        while have < size and not self._eof:
            chunk = self._next_chunk(max(size - have, self._CHUNK))
            parts.append(chunk)
            have += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if len(data) <= size:
            self._pending = b""
            return data
        self._pending = data[size:]
        return data[:size]

    def _next_chunk(self, size: int) -> bytes:
        raw = self._source.read(size)
        start = self._consumed
        if self._digest is not None:
            self._digest.feed(raw, start)
        if not raw:
            self._eof = True
            rest = self._decode(b"", start, final=True) if self._inline_check else ""
            if self._transform is not None:
                rest = self._transform(rest, True)
                if rest:
                    return self._emit(rest.encode("utf-8"))
            # pyarrow fails ("straddling object") when the header or a skipped row is
            # the last line and has no line break; one more never changes the data.
            return b"" if self._last in b"\r\n" else self._emit(b"\n")
        self._consumed += len(raw)
        if self._skip:
            cut = min(self._skip, len(raw))
            raw, self._skip, start = raw[cut:], self._skip - cut, start + cut
        if self._codec == "utf-8" and self._transform is None:
            if self._inline_check:
                held = getattr(self._decoder, "buffer", b"")
                if held or not raw.isascii():
                    self._decode(raw, start, final=False)
            nul = raw.find(b"\x00")
            if nul >= 0:
                raise _nul_error(start + nul)
            return self._emit(raw)
        text = self._decode(raw, start, final=False)
        if "\x00" in text:
            raise _nul_error(start, approximate=True)
        if self._transform is not None:
            text = self._transform(text, False)
        return self._emit(text.encode("utf-8"))

    def _emit(self, data: bytes) -> bytes:
        if data:
            self._last = data[-1:]
            self._tail = [self._tail[1], data]
        return data

    def _decode(self, raw: bytes, start: int, final: bool) -> str:
        held = getattr(self._decoder, "buffer", b"")
        try:
            text: str = self._decoder.decode(raw, final)
        except UnicodeDecodeError as exc:
            raise _decode_failure(self._codec, start, held, raw, exc, final) from None
        return text


def _nul_error(offset: int, approximate: bool = False) -> BadInput:
    where = f"near byte offset {offset}" if approximate else f"at byte offset {offset}"
    return BadInput(f"this looks like a binary file, not CSV: NUL character {where}")
