"""What an upload is, told from its first bytes: CSV, one of the other inputs the
processor reads (processor/inputs/: gzip, zip, xlsx, ods, xls, JSON, NDJSON), or a
format it cannot read (XML, HTML, PDF, Parquet, 7z, images...).

Shared by the API (415 at upload, from the first KiB) and the processor (the file
fails with the same words), so neither ever ends ``ready`` with a CSV reading of them.
Only evidence counts: ``[id],[name]`` (bracketed headers) or ``<5 years,5-10 years``
are not JSON or markup and stay CSV.
"""

from __future__ import annotations

import codecs
import json
import re

GZIP_MAGIC = b"\x1f\x8b"
# A local file header: zip archives, and the xlsx and ods workbooks built on them.
ZIP_MAGIC = b"PK\x03\x04"
# OLE2 compound documents: legacy .xls workbooks (and .doc, which the processor refuses).
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
READABLE_MAGIC = ((GZIP_MAGIC, "gzip"), (ZIP_MAGIC, "zip"), (OLE_MAGIC, "ole"))
# Read as text, the labels of text_format that the processor turns into rows.
JSON_ARRAY = "a JSON array"
JSON_OBJECT = "a JSON object"
NDJSON = "NDJSON (one JSON value per line)"
READABLE_TEXT = frozenset({JSON_ARRAY, JSON_OBJECT, NDJSON})

_TAG = re.compile(r"<([A-Za-z][\w:.-]*)(?:\s[^<>]*)?/?>")
_DOCTYPE = re.compile(r"<!doctype\s+([A-Za-z]+)", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_TAGS = frozenset(
    {"html", "head", "body", "table", "div", "meta", "title", "p", "span", "script", "link"}
)
_JSON_OBJECT_START = re.compile(r'\{\s*(?:"(?:[^"\\\n]|\\.)*"\s*:|\})')
_JSON_ARRAY_START = re.compile(
    r'\[\s*(?:\{\s*(?:"|\})|\[|\]|"(?:[^"\\\n]|\\.)*"\s*[,\]]'
    r"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s*[,\]]|(?:true|false|null)\s*[,\]])"
)


def decode_head(head: bytes) -> str:
    """The first bytes of a file as text (UTF-8 or UTF-16 by their BOM; a character
    cut at the end, or any byte that is not UTF-8, is replaced)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", "replace")
    return head.decode("utf-8", "replace").removeprefix("\ufeff")


def _complete_json(text: str) -> object | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def _json_kind(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= 2 and all(_complete_json(line) is not None for line in lines[:2]):
        return NDJSON
    whole = _complete_json(text)
    if isinstance(whole, list):
        return JSON_ARRAY
    if isinstance(whole, dict):
        return JSON_OBJECT
    # Cut off by the sample: only its start can tell.
    if _JSON_ARRAY_START.match(text):
        return JSON_ARRAY
    if _JSON_OBJECT_START.match(text):
        return JSON_OBJECT
    return None


def _markup_kind(text: str) -> str | None:
    if text[:5].lower() == "<?xml":
        return "XML"
    doctype = _DOCTYPE.match(text)
    if doctype:
        return "HTML" if doctype.group(1).lower() == "html" else "XML"
    body = _COMMENT.sub("", text).lstrip() if text.startswith("<!--") else text
    tag = _TAG.match(body)
    if tag is None:
        return None
    return "HTML" if tag.group(1).lower() in _HTML_TAGS else "XML"


def text_format(text: str) -> str | None:
    """What the text is when it is JSON, NDJSON, XML or HTML rather than CSV; None
    when it may be CSV."""
    start = text.lstrip("\ufeff \t\r\n")
    if not start:
        return None
    if start[0] == "<":
        return _markup_kind(start)
    if start[0] in "[{":
        return _json_kind(start)
    return None


def container_format(head: bytes) -> str | None:
    """ "gzip", "zip" or "ole" when the bytes start like an input the processor opens
    (a compressed CSV or JSON, a workbook); None otherwise."""
    for magic, name in READABLE_MAGIC:
        if head.startswith(magic):
            return name
    return None


def not_csv_message(kind: str) -> str:
    return (
        f"this file is {kind}, not CSV; export it as CSV (comma- or semicolon-separated "
        f"values) and upload that"
    )
