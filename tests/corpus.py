"""Paths into the shared, read-only corpus (used by path, never copied)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SPECTRUM = CORPUS / "csv-spectrum"


def spectrum_cases() -> list[Path]:
    return sorted((SPECTRUM / "csvs").glob("*.csv"))


def as_csv_text(value: Any) -> str:
    """A served, typed value as the text it came from, to compare with string-only fixtures.

    Documented normalisation: null (the `""` token) is ""; ints print plainly;
    floats without a trailing ".0"; booleans as true/false; dates ISO.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)
