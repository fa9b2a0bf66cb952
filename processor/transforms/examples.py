"""Example transforms shipped in the processor image (README: Your own pandas step).

Register them by name, e.g.
MINI_PROCESSOR__TRANSFORMS='{"line-total": "processor.transforms.examples:line_total",
"country-codes": "processor.transforms.examples:country_codes",
"drop-test-rows": "processor.transforms.examples:drop_test_rows"}'.
Each gets a batch of typed rows with Arrow-backed dtypes and returns it changed.
"""

from __future__ import annotations

import pandas as pd

from . import transform

# Spellings of a country seen in files, by their ISO 3166 code.
COUNTRY_CODES = {
    "DE": ("de", "deu", "germany", "deutschland"),
    "FR": ("fr", "fra", "france"),
    "NO": ("no", "nor", "norway", "norge"),
    "BR": ("br", "bra", "brazil", "brasil"),
}
_CODE_OF = {spelling: code for code, names in COUNTRY_CODES.items() for spelling in names}
TEST_DOMAINS = ("@example.com", "@example.org", "@test.invalid")


@transform(
    version="1",
    add={"line_total": "float"},
    needs=("quantity", "unit_price"),
    description="line_total = quantity x unit_price (null when either is)",
)
def line_total(frame: pd.DataFrame) -> pd.DataFrame:
    """Derive a column: Arrow-backed arithmetic keeps nulls null (no NaN)."""
    quantity = frame["quantity"].astype("float64[pyarrow]")
    frame["line_total"] = (quantity * frame["unit_price"].astype("float64[pyarrow]")).round(2)
    return frame


@transform(version="2", needs=("country",), description="country as its ISO 3166 code")
def country_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalise codes: spellings of a country become its code; others stay as they
    are (upper-cased), so nothing is lost that a person could still read."""
    key = frame["country"].str.strip().str.lower()
    known = key.map(_CODE_OF, na_action="ignore")
    frame["country"] = known.fillna(frame["country"].str.upper()).astype("string[pyarrow]")
    return frame


@transform(version="1", needs=("email",), description="drop rows whose email is a test address")
def drop_test_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop test rows: the report counts them and names their lines."""
    email = frame["email"].str.lower()
    test = email.str.endswith(TEST_DOMAINS).fillna(False).astype(bool)
    return frame[~test]
