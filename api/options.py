"""The per-upload options a client may give (upload and reprocess take the same ones),
validated once, into the dict stored with the version and handed to the processor."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, Query

from core import upload_options
from core.catalog import SchemaPolicy

from .errors import Unprocessable

DELIMITERS = {",": ",", ";": ";", "|": "|", "\\t": "\t", "tab": "\t", "\t": "\t"}
# Keys a user chooses; the service adds `baseline` and `on_schema_change` itself.
USER_OPTIONS = (
    "encoding",
    "delimiter",
    "header_row",
    "no_header",
    *upload_options.CLEANING_KEYS,
    "transform",
)
# ?transform= on upload and reprocess (README: Your own pandas step).
# Stored by the service, never given by a user: the upload is gzip, zip or a workbook,
# as its first bytes showed; the Kubernetes runner sizes and counts its Job by that.
PACKED_OPTION = "packed"
TRANSFORM_QUERY = Query(
    max_length=64,
    description="a pandas transform the operator registered (MINI_PROCESSOR__TRANSFORMS), "
    "stored with the dataset: later uploads keep it; 'none' removes it",
)
# Options that change which columns the file has (types then cannot be checked early).
SHAPE_OPTIONS = ("encoding", "delimiter", "header_row", "no_header", "skip_rows", "sheet")


def detection_options(
    encoding: str | None, delimiter: str | None, header_row: int | None, no_header: bool | None
) -> dict[str, Any]:
    """Only what was given: on reprocess, what is left out keeps the source version's value."""
    options: dict[str, Any] = {}
    if encoding:
        try:
            options["encoding"] = codecs.lookup(encoding).name
        except (LookupError, ValueError):  # ValueError: a NUL in the name
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


def cleaning_options(
    null_tokens: Annotated[
        str | None,
        Query(
            max_length=4000,
            description="values that mean no value, comma-separated (k.A.,n/d); added to "
            "the default list, or replacing it with null_tokens_replace=true",
        ),
    ] = None,
    null_tokens_replace: Annotated[
        bool | None, Query(description="null_tokens replace the default list")
    ] = None,
    dedupe: Annotated[
        bool | None,
        Query(description="remove exact duplicate rows (always counted and reported)"),
    ] = None,
    decimal: Annotated[
        str | None, Query(max_length=5, description="the decimal mark: , or .")
    ] = None,
    date_order: Annotated[str | None, Query(max_length=3, description="dmy, mdy or ymd")] = None,
    types: Annotated[
        str | None,
        Query(max_length=4000, description="column types: cep:text,betrag:decimal"),
    ] = None,
    skip_rows: Annotated[
        int | None, Query(ge=0, le=1_000_000, description="lines to skip above the header")
    ] = None,
    sheet: Annotated[
        str | None,
        Query(
            max_length=upload_options.MAX_SHEET_NAME,
            description="a workbook's sheet (xlsx, xls, ods), by name or position from 1; "
            "default the first",
        ),
    ] = None,
) -> dict[str, Any]:
    """The cleaning options of an upload or a reprocess (only what was given), 422 for a
    value that is not valid (an unknown type names it)."""
    try:
        return upload_options.cleaning_options(
            null_tokens=null_tokens,
            null_tokens_replace=null_tokens_replace,
            dedupe=dedupe,
            decimal=decimal,
            date_order=date_order,
            types=types,
            skip_rows=skip_rows,
            sheet=sheet,
        )
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None


CleaningOptions = Annotated[dict[str, Any], Depends(cleaning_options)]


def combined(detection: dict[str, Any], cleaning: dict[str, Any]) -> dict[str, Any]:
    """Detection overrides and cleaning options together; 422 when they contradict."""
    if "skip_rows" in cleaning and "header_row" in detection:
        raise Unprocessable(
            "give header_row or skip_rows, not both (skip_rows=N is header_row=N+1)"
        )
    return {**detection, **cleaning}


def merge_options(source: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A reprocess's options: the source version's user options with ``overrides`` on
    top; a new header_row or skip_rows replaces the other one."""
    chosen = {**user_options(source), **overrides}
    if "header_row" in overrides:
        chosen.pop("skip_rows", None)
    if "skip_rows" in overrides:
        chosen.pop("header_row", None)
    return chosen


def check_type_columns(
    overrides: dict[str, Any],
    read_report: Callable[[], dict[str, Any] | None],
    version: int | None,
) -> None:
    """422 naming the columns of a reprocess's ``types`` that the source version lacks,
    when its columns are known (it is ready) and the overrides do not change the shape."""
    types = overrides.get("types")
    if not types or any(k in overrides for k in SHAPE_OPTIONS):
        return
    report = read_report()
    if report is None:
        return
    unknown = unknown_type_columns(types, report)
    if unknown:
        names = [str(c.get("name")) for c in report.get("columns", []) if isinstance(c, dict)]
        raise Unprocessable(
            f"types names column(s) that version {version} does not have: "
            f"{', '.join(repr(u) for u in unknown)}; its columns are "
            f"{', '.join(repr(n) for n in names[:50])}"
        )


def unknown_type_columns(types: dict[str, str], report: dict[str, Any]) -> list[str]:
    """Columns named in ``types`` that a version's report does not have (by output name
    or header, kept or dropped)."""
    known: set[str] = set()
    used = report.get("transform")
    # types name the file's columns: with a transform, also those it removed.
    given = used.get("input_columns", []) if isinstance(used, dict) else []
    for entry in [*report.get("columns", []), *report.get("columns_dropped", []), *given]:
        if isinstance(entry, dict):
            known.update(str(entry.get(k)) for k in ("name", "original_name") if entry.get(k))
    return [c for c in types if c not in known]


def user_options(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k in USER_OPTIONS}


def transform_option(value: str | None, registered: Iterable[str]) -> dict[str, Any]:
    """{"transform": name or None} when ?transform= was given (None: ``none``), else {}.
    Only the names in the settings are known here: the API never imports a transform."""
    if value is None:
        return {}
    try:
        return {"transform": upload_options.parse_transform(value, registered)}
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None


def policy_option(value: str | None) -> SchemaPolicy | None:
    if value is None:
        return None
    try:
        return SchemaPolicy(value)
    except ValueError:
        choices = ", ".join(p.value for p in SchemaPolicy)
        raise Unprocessable(f"on_schema_change must be one of {choices}, not {value!r}") from None
