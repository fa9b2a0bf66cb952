"""Processing options chosen by the user (or left to detection)."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.upload_options import COLUMN_TYPES, DATE_ORDERS

from .errors import BadInput

if TYPE_CHECKING:
    from .transform import Transform

KIB = 1024
MIB = 1024 * KIB

# Case-sensitive on purpose: "na" is a Portuguese word, "None" in a name column is not.
DEFAULT_NULL_TOKENS: tuple[str, ...] = (
    "",
    "NA",
    "N/A",
    "n/a",
    "#N/A",
    "null",
    "NULL",
    "Null",
    "None",
    "none",
    "nan",
    "NaN",
    "-",
    "--",
)

DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}

# What happens when a new version's columns differ from the version served before it.
SCHEMA_POLICIES = ("pin", "reject", "allow")
_VERSION_ID = re.compile(r"^[0-9a-f]{32}$")
# The type names users may give (``cep:text``) and the report's: one list, shared with
# the API's validation (core/upload_options.py loads no pyarrow either).
DECIMAL_MARKS = (",", ".")


@dataclass(frozen=True)
class BaselineColumn:
    """One served column of the baseline version, as its report.json lists it."""

    name: str
    type: str  # the report's "type": int, float, decimal, bool, date, timestamp, string
    arrow_type: str  # e.g. "double", "decimal128(20, 4)", "timestamp[us, tz=UTC]"
    format: str | None = None  # the report's "format" label, e.g. "1.234,56"
    null_count: int = 0


@dataclass(frozen=True)
class Baseline:
    """The version served before this one: the schema a new version is compared with.

    ``id`` is None when the report came from a local file (``--baseline-report``).
    """

    version: int
    columns: tuple[BaselineColumn, ...]
    id: str | None = None
    # What it served and through which transform (README: Your own pandas step): a
    # change of transform changes the served columns, which the report then says.
    served: tuple[str, ...] = ()
    transform: str | None = None

    @classmethod
    def from_report(cls, report: Any, version: int, id: str | None = None) -> Baseline:
        """Columns of a baseline's report.json; BadInput when it has none to read."""
        where = f"the report of version {version}" + (f" ({id})" if id else "")
        columns = report.get("columns") if isinstance(report, dict) else None
        served = [c.get("name") for c in columns or [] if isinstance(c, dict)]
        used = report.get("transform") if isinstance(report, dict) else None
        through = str(used["name"]) if isinstance(used, dict) and used.get("name") else None
        if isinstance(used, dict) and "input_columns" in used:
            # A version served through a transform is compared by the columns its file
            # had (what the transform was given), like with like: the transform's own
            # columns are its declaration's, not the file's (README: Your own pandas step).
            columns = used["input_columns"]
        if not isinstance(columns, list):
            raise BadInput(f"{where} has no list of columns to compare this version with")
        parsed = []
        for column in columns:
            try:
                parsed.append(
                    BaselineColumn(
                        name=str(column["name"]),
                        type=str(column["type"]),
                        arrow_type=str(column["arrow_type"]),
                        format=None if column.get("format") is None else str(column["format"]),
                        null_count=int(column.get("null_count") or 0),
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                raise BadInput(
                    f"{where} lists a column without a name, type and arrow_type: {column!r:.200}"
                ) from None
            if parsed[-1].type not in COLUMN_TYPES:
                raise BadInput(
                    f"{where} gives column {parsed[-1].name!r} the unknown type {parsed[-1].type!r}"
                )
        return cls(
            version=version,
            columns=tuple(parsed),
            id=id,
            served=tuple(str(n) for n in served if n is not None),
            transform=through,
        )

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version}


@dataclass(frozen=True)
class ProcessOptions:
    """What the user may force; ``None`` means "detect it".

    ``header_row`` is the 0-based physical line of the header; the lines above it are
    skipped (titles pasted above a spreadsheet table). With ``no_header`` it is the
    first data line instead.
    """

    encoding: str | None = None
    delimiter: str | None = None
    header_row: int | None = None
    no_header: bool = False
    null_tokens: tuple[str, ...] = DEFAULT_NULL_TOKENS
    max_field_bytes: int = 16 * MIB
    # More columns than this fail the file (MINI_MAX_COLUMNS; README: Limits).
    max_columns: int = 2000
    # More rejected rows than this share of the rows read fails the dataset.
    max_reject_ratio: float = 0.10
    # Spill files (a little more than the input's size) go here; None: the system's.
    temp_dir: str | None = None
    # Knobs below are for tests and tuning, not for end users.
    block_size: int = 1 * MIB
    batch_bytes: int = 8 * MIB
    sample_bytes: int = 1 * MIB
    row_group_rows: int = 100_000
    # Values of duplicate-candidate groups kept in memory before they go to SQLite:
    # enough for the 1 GB benchmark file, a flat bound (and some SQLite) at 4 GB.
    dedup_memory_bytes: int = 16 * MIB
    # Schema drift: the version served before this one, and what a difference does.
    on_schema_change: str = "pin"
    baseline: Baseline | None = None
    # Exact duplicate rows are always counted and reported; removed only with this.
    dedupe: bool = False
    # The decimal mark of every number column ("," or "."); None: decided per column.
    decimal: str | None = None
    # How dates with the day and month in numbers are read; None: decided by evidence.
    date_order: str | None = None
    # Column type overrides: (column, type) pairs; the column is named as in the output
    # (snake_case) or as in the header.
    types: tuple[tuple[str, str], ...] = ()
    # Lines skipped above the header as the user said it (``skip_rows``), for the report:
    # ``header_row`` already holds its effect.
    skip_rows: int | None = None
    # A workbook's sheet, by name or position from 1 (processor/inputs/); None: the first.
    sheet: str | None = None
    # gzip and zip: more decompressed bytes than this fail the file (zip bombs;
    # MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES).
    max_decompressed_bytes: int = 20 * 1024 * MIB
    # An operator's pandas transform chosen for the dataset (transform.py), loaded.
    transform: Transform | None = None

    def __post_init__(self) -> None:
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise BadInput(f"unknown encoding {self.encoding!r}") from None
        if self.delimiter is not None:
            delim = DELIMITER_ALIASES.get(self.delimiter.lower(), self.delimiter)
            if len(delim) != 1 or delim in '"\r\n':
                raise BadInput(
                    f"delimiter must be one character other than a quote or a newline, "
                    f"got {self.delimiter!r}"
                )
            object.__setattr__(self, "delimiter", delim)
        if self.header_row is not None and self.header_row < 0:
            raise BadInput(f"header_row must be 0 or more, got {self.header_row}")
        if not isinstance(self.null_tokens, tuple) or not all(
            isinstance(t, str) for t in self.null_tokens
        ):
            raise BadInput("null_tokens must be a tuple of strings")
        if self.max_decompressed_bytes < 1:
            raise BadInput("max_decompressed_bytes must be positive")
        if self.max_field_bytes < 1:
            raise BadInput("max_field_bytes must be positive")
        if self.block_size < 4 * KIB or self.sample_bytes < 4 * KIB:
            raise BadInput("block_size and sample_bytes must be at least 4 KiB")
        if not 0.0 <= self.max_reject_ratio <= 1.0:
            raise BadInput("max_reject_ratio must be between 0 and 1")
        if self.row_group_rows < 1 or self.batch_bytes < 1 or self.dedup_memory_bytes < 0:
            raise BadInput(
                "row_group_rows and batch_bytes must be positive, dedup_memory_bytes not negative"
            )
        if self.on_schema_change not in SCHEMA_POLICIES:
            raise BadInput(
                f"on_schema_change must be one of {', '.join(SCHEMA_POLICIES)}, "
                f"got {self.on_schema_change!r}"
            )
        if self.decimal is not None and self.decimal not in DECIMAL_MARKS:
            raise BadInput(f"decimal must be ',' or '.', got {self.decimal!r}")
        if self.date_order is not None and self.date_order not in DATE_ORDERS:
            raise BadInput(
                f"date_order must be one of {', '.join(DATE_ORDERS)}, got {self.date_order!r}"
            )
        for column, kind in self.types:
            if kind not in COLUMN_TYPES:
                raise BadInput(
                    f"unknown type {kind!r} for column {column!r} in types; "
                    f"use one of {', '.join(sorted(COLUMN_TYPES))}"
                )
        baseline = self.baseline
        if baseline is not None:
            if isinstance(baseline.version, bool) or not isinstance(baseline.version, int):
                raise BadInput(f"the baseline version must be a number, got {baseline.version!r}")
            if baseline.version < 1:
                raise BadInput(f"the baseline version must be 1 or more, got {baseline.version}")
            if baseline.id is not None and not _VERSION_ID.match(baseline.id):
                raise BadInput(
                    f"the baseline id must be a dataset version id (32 hex digits), "
                    f"got {baseline.id!r}"
                )
