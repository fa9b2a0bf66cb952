"""The per-upload options a client may give (upload and reprocess take the same ones),
validated once, into the dict stored with the version and handed to the processor."""

from __future__ import annotations

import codecs
from typing import Any

from core.catalog import SchemaPolicy

from .errors import Unprocessable

DELIMITERS = {",": ",", ";": ";", "|": "|", "\\t": "\t", "tab": "\t", "\t": "\t"}
# Keys a user chooses; the service adds `baseline` and `on_schema_change` itself.
USER_OPTIONS = ("encoding", "delimiter", "header_row", "no_header")


def detection_options(
    encoding: str | None, delimiter: str | None, header_row: int | None, no_header: bool | None
) -> dict[str, Any]:
    """Only what was given: on reprocess, what is left out keeps the source version's value."""
    options: dict[str, Any] = {}
    if encoding:
        try:
            options["encoding"] = codecs.lookup(encoding).name
        except LookupError:
            raise Unprocessable(f"unknown encoding {encoding!r}") from None
    if delimiter:
        if delimiter not in DELIMITERS:
            raise Unprocessable("delimiter must be one of , ; | tab")
        options["delimiter"] = DELIMITERS[delimiter]
    if header_row is not None:
        options["header_row"] = header_row
    if no_header is not None:
        options["no_header"] = no_header
    return options


def user_options(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k in USER_OPTIONS}


def policy_option(value: str | None) -> SchemaPolicy | None:
    if value is None:
        return None
    try:
        return SchemaPolicy(value)
    except ValueError:
        choices = ", ".join(p.value for p in SchemaPolicy)
        raise Unprocessable(f"on_schema_change must be one of {choices}, not {value!r}") from None
