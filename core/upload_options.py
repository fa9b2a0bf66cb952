"""The per-upload cleaning options as a user writes them (query string, form, command
line), parsed into the values stored with a version. Shared by the API (which answers
422 with the message) and ``python -m processor process`` (exit 2): no pyarrow here.

- ``null_tokens=k.A.,n/d``: values that mean "no value", comma-separated, added to the
  default list; with ``null_tokens_replace=true`` they replace it (the empty value is
  always null).
- ``dedupe=true``: remove exact duplicate rows (they are always counted and reported).
- ``decimal=,`` or ``decimal=.``: the decimal mark of every number column.
- ``date_order=dmy|mdy|ymd``: how dates written with numbers are read.
- ``types=cep:text,betrag:decimal``: column types, by output name or header.
- ``skip_rows=N``: lines to skip above the header (or above the first data line).
- ``sheet=Data`` (or ``sheet=2``): the sheet of a workbook (xlsx, xls, ods) to read, by
  name or by position from 1; without it, the first.
- ``transform=name``: a pandas transform the operator registered (MINI_PROCESSOR__TRANSFORMS);
  ``none`` removes the dataset's. Checked against the names only: no module is imported.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.settings import NO_TRANSFORM

COLUMN_TYPES = ("int", "float", "decimal", "bool", "date", "timestamp", "string")
TYPE_ALIASES = {
    "text": "string",
    "str": "string",
    "integer": "int",
    "double": "float",
    "number": "float",
    "boolean": "bool",
    "datetime": "timestamp",
}
DECIMAL_MARKS = {",": ",", ".": ".", "comma": ",", "dot": ".", "point": "."}
DATE_ORDERS = ("dmy", "mdy", "ymd")
# Keys of the stored options that these parse.
CLEANING_KEYS = (
    "null_tokens",
    "null_tokens_replace",
    "dedupe",
    "decimal",
    "date_order",
    "types",
    "skip_rows",
    "sheet",
)
MAX_TOKENS = 100
# Excel allows 31 characters, LibreOffice more; past this it cannot be a sheet's name.
MAX_SHEET_NAME = 255
MAX_TOKEN_LENGTH = 100


def type_name(text: str) -> str | None:
    """The stored name of a type (``text`` → ``string``); None when unknown."""
    key = text.strip().lower()
    key = TYPE_ALIASES.get(key, key)
    return key if key in COLUMN_TYPES else None


def parse_null_tokens(text: str) -> list[str]:
    tokens = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if len(tokens) > MAX_TOKENS:
        raise ValueError(f"null_tokens takes at most {MAX_TOKENS} tokens, got {len(tokens)}")
    long = [t for t in tokens if len(t) > MAX_TOKEN_LENGTH]
    if long:
        raise ValueError(f"null token {long[0][:40]!r}… is over {MAX_TOKEN_LENGTH} characters")
    return tokens


def parse_types(text: str) -> dict[str, str]:
    """``cep:text,betrag:decimal`` → {"cep": "string", "betrag": "decimal"}."""
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        column, sep, kind = item.rpartition(":")
        column = column.strip()
        if not sep or not column:
            raise ValueError(f"types takes column:type pairs separated by commas, got {item!r}")
        name = type_name(kind)
        if name is None:
            choices = ", ".join(COLUMN_TYPES + tuple(TYPE_ALIASES))
            raise ValueError(f"unknown type {kind.strip()!r} for column {column!r}; use {choices}")
        out[column] = name
    if not out:
        raise ValueError("types is empty; give column:type pairs such as cep:text")
    return out


def parse_sheet(text: str) -> str:
    name = text.strip()
    if not name:
        raise ValueError("sheet is empty; give a sheet's name or its position from 1")
    if len(name) > MAX_SHEET_NAME or not name.isprintable():
        raise ValueError(f"sheet must be a sheet's name (at most {MAX_SHEET_NAME} characters)")
    return name


def parse_transform(text: str, known: Iterable[str]) -> str | None:
    """A registered transform's name, or None for ``none`` (no transform); ValueError
    naming the registered ones otherwise."""
    name = text.strip().lower()
    if name == NO_TRANSFORM:
        return None
    registered = sorted(known)
    if name not in registered:
        listed = (
            ", ".join(registered)
            if registered
            else "none is registered (MINI_PROCESSOR__TRANSFORMS)"
        )
        raise ValueError(
            f"unknown transform {text.strip()[:64]!r}; the registered ones: {listed} "
            f"(or {NO_TRANSFORM!r} for no transform)"
        )
    return name


def parse_decimal(text: str) -> str:
    mark = DECIMAL_MARKS.get(text.strip().lower())
    if mark is None:
        raise ValueError(f"decimal must be ',' or '.', not {text!r}")
    return mark


def parse_date_order(text: str) -> str:
    order = text.strip().lower()
    if order not in DATE_ORDERS:
        raise ValueError(f"date_order must be one of {', '.join(DATE_ORDERS)}, not {text!r}")
    return order


def cleaning_options(
    *,
    null_tokens: str | None = None,
    null_tokens_replace: bool | None = None,
    dedupe: bool | None = None,
    decimal: str | None = None,
    date_order: str | None = None,
    types: str | None = None,
    skip_rows: int | None = None,
    sheet: str | None = None,
) -> dict[str, object]:
    """Only what was given (on reprocess, what is left out keeps the source's value).
    ValueError with a message for a person when a value is not valid."""
    options: dict[str, object] = {}
    if null_tokens is not None:
        options["null_tokens"] = parse_null_tokens(null_tokens)
    if null_tokens_replace is not None:
        options["null_tokens_replace"] = null_tokens_replace
    if dedupe is not None:
        options["dedupe"] = dedupe
    if decimal:
        options["decimal"] = parse_decimal(decimal)
    if date_order:
        options["date_order"] = parse_date_order(date_order)
    if types:
        options["types"] = parse_types(types)
    if skip_rows is not None:
        if skip_rows < 0:
            raise ValueError(f"skip_rows must be 0 or more, got {skip_rows}")
        options["skip_rows"] = skip_rows
    if sheet is not None:
        options["sheet"] = parse_sheet(sheet)
    return options
