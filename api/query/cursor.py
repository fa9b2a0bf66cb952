"""Opaque paging cursors.

A cursor names the dataset version it was issued for and the position of the next row
in the query's result, and carries a fingerprint of the filters and sort it belongs to.
Ready datasets never change, so a position stays valid: following `next` visits every
row of that version exactly once, even when a newer version becomes the latest meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import Unprocessable

_VERSION = 1


@dataclass(frozen=True)
class Cursor:
    dataset_id: str
    position: int
    fingerprint: str


def fingerprint(filters: Sequence[str], sort: Sequence[str]) -> str:
    text = json.dumps([sorted(filters), list(sort)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check(payload: bytes) -> str:
    return hashlib.sha256(b"mini-pipeline cursor " + payload).hexdigest()[:8]


def encode(cursor: Cursor) -> str:
    payload = json.dumps(
        [_VERSION, cursor.dataset_id, cursor.position, cursor.fingerprint], separators=(",", ":")
    ).encode()
    token = payload + b"." + _check(payload).encode()
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode(token: str) -> Cursor:
    invalid = Unprocessable("cursor is not valid: use the `next` link as given")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload, _, check = raw.rpartition(b".")
        if not payload or check.decode() != _check(payload):
            raise invalid
        version, dataset_id, position, fp = json.loads(payload)
    except (binascii.Error, ValueError, UnicodeDecodeError, TypeError):
        raise invalid from None
    if version != _VERSION or not isinstance(position, int) or position < 0:
        raise invalid
    if not isinstance(dataset_id, str) or not isinstance(fp, str):
        raise invalid
    return Cursor(dataset_id, position, fp)
