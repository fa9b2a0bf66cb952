"""Workbooks (.xlsx, .xls, .ods) → one sheet as CSV, read with python-calamine.

calamine (Rust) reads all three formats with one API and is maintained; it reads a
sheet's cells into memory, so the workbook's uncompressed size is limited first
(MAX_WORKBOOK_XML_BYTES for the zip-based formats, the upload limit for .xls).

Cells become text the way they show their value: integral numbers without ``.0``
(Excel stores every number as a float), other numbers with ``repr`` precision,
dates and times in ISO 8601, booleans as ``true``/``false``, empty cells as nulls.
Row N of the CSV is the sheet's row N: rejects and notes name sheet rows.
"""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from pathlib import Path
from typing import Any

from processor.pipeline.errors import BadInput

from .spill import CsvSpill

# The zip members of an xlsx/ods hold the cells as XML; calamine keeps the sheet read
# from them in memory, so a workbook whose XML claims more than this is refused.
MAX_WORKBOOK_XML_BYTES = 2 * 1024**3
# Integral floats up to 2**53 are exact integers; past it, repr keeps what is stored.
_EXACT_INT = 2**53


def cell_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < _EXACT_INT:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration(value)
    return str(value)


def _duration(value: dt.timedelta) -> str:
    """ISO 8601 duration (PnDTnHnMnS), as Excel durations (``[h]:mm``) are read."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    frac = f".{value.microseconds:06d}".rstrip("0") if value.microseconds else ""
    return f"{sign}P{value.days}DT{hours}H{minutes}M{seconds}{frac}S"


def check_zip_size(path: Path, what: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            claimed = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadInput(f"this {what} workbook cannot be opened: {exc}") from None
    if claimed > MAX_WORKBOOK_XML_BYTES:
        raise BadInput(
            f"this {what} workbook holds {claimed} bytes once uncompressed, more than the "
            f"{MAX_WORKBOOK_XML_BYTES} read from a workbook; save the sheet as CSV and upload that"
        )


def pick_sheet(names: list[str], wanted: str | None) -> int:
    if wanted is None:
        return 0
    if wanted in names:
        return names.index(wanted)
    if wanted.isdigit() and 1 <= int(wanted) <= len(names):
        # A position, counted from 1 as a person counts tabs.
        return int(wanted) - 1
    listed = ", ".join(repr(n) for n in names[:20])
    raise BadInput(f"the workbook has no sheet {wanted!r}; its sheets are {listed}")


def sheet_to_csv(path: Path, what: str, wanted: str | None, spill: CsvSpill) -> dict[str, Any]:
    """Write the chosen sheet to ``spill``; the report's ``input`` facts."""
    from python_calamine import CalamineWorkbook  # the CSV path never loads it

    if what in ("xlsx", "ods"):
        check_zip_size(path, what)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own types for every damaged file
        raise BadInput(f"this {what} workbook cannot be read: {exc}") from None
    names = list(book.sheet_names)
    if not names:
        raise BadInput(f"this {what} workbook has no sheets")
    index = pick_sheet(names, wanted)
    sheet_name = names[index]
    try:
        sheet = book.get_sheet_by_index(index)
        # iter_rows starts at the sheet's row 1 and makes one row's values at a time
        # (to_python would make every cell's at once).
        skip = int(sheet.start[0]) if sheet.start else 0
        written = 0
        first_row = 0
        for number, row in enumerate(sheet.iter_rows(), start=1):
            if number <= skip:
                continue
            cells = [cell_text(c) for c in row]
            if written or any(c is not None for c in cells):
                spill.write(cells, number)
                written += 1
                first_row = first_row or number
    except BadInput:
        raise
    except Exception as exc:
        raise BadInput(
            f"sheet {sheet_name!r} of this {what} workbook cannot be read: {exc}"
        ) from None
    if not written:
        raise BadInput(f"sheet {sheet_name!r} is empty; choose another with ?sheet=")
    return {
        "format": what,
        "sheet": sheet_name,
        "sheets": names,
        "first_row": first_row,
        "line_numbers": "sheet row numbers",
        "cells_as_text": (
            "integral numbers without .0, other numbers with full precision, dates and "
            "times in ISO 8601, booleans as true/false, empty cells as nulls"
        ),
    }
