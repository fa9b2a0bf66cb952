"""Schema drift: a new version's columns compared with the version served before it.

:func:`diff` is the comparison, a pure function of the baseline's columns (from its
report.json) and this file's: columns added, removed, retyped (with the values that
forced it and their lines), and nullability. :func:`plan` turns it into what each
output column is read and stored as under the dataset's policy:

- ``pin``: the served schema is the contract. A column keeps the baseline's type,
  widens safely (int to float or decimal, date to timestamp), and values that do not
  fit the kept type are rejected with their rows (checked conversion, convert.py).
- ``reject``: any difference fails the version.
- ``allow``: the file's own types are served; the difference is only recorded.

:class:`Watch` follows one baseline column through pass 1 (only when there is a
baseline): the first values that broke the baseline's type, with their lines, and what
the values that still look like that type would be on their own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .convert import arrow_type
from .errors import BadInput
from .infer import (
    _FORMAT_LABELS,
    STRING,
    ColumnStats,
    ColumnType,
    Kind,
    LineOf,
    accumulate,
    copy_stats,
    decide_type,
    examples_at,
    fits_shape,
    kind_candidates,
    kind_shapes,
)
from .options import Baseline, BaselineColumn

NUMBERS = frozenset({Kind.INT, Kind.FLOAT, Kind.DECIMAL})
_LABEL_FORMATS = {label: fmt for fmt, label in _FORMAT_LABELS.items() if label}
_DECIMAL = re.compile(r"^decimal128\((\d+), ?(-?\d+)\)$")
_ARTICLES = {Kind.INT: "an int"}


def a_type(kind: Kind | str) -> str:
    """ "a float", "an int": the type as the reject reasons name it."""
    kind = Kind(kind)
    return _ARTICLES.get(kind, f"a {kind}")


def baseline_type(column: BaselineColumn, version: int) -> ColumnType:
    """The ColumnType whose Arrow type is the baseline's (its format read back from
    the report's label, to read this file's values with when nothing better is known)."""
    kind = Kind(column.type)
    label = column.format or ""
    fmt = _LABEL_FORMATS.get(label, "")
    if not fmt:
        default = "plain" if kind in NUMBERS else ""
        fmt = {Kind.DATE: "iso", Kind.TIMESTAMP: "naive"}.get(kind, default)
    if kind is Kind.TIMESTAMP and "UTC" in column.arrow_type and not fmt.endswith(" time"):
        fmt = "utc"
    ctype = ColumnType(kind, fmt)
    if kind is Kind.DECIMAL:
        match = _DECIMAL.match(column.arrow_type)
        if match is None:
            raise BadInput(
                f"the report of version {version} gives column {column.name!r} the decimal "
                f"type {column.arrow_type!r}, which is not decimal128(precision, scale)"
            )
        shift = 2 if fmt.startswith("percent") else 0
        precision, scale = int(match.group(1)), int(match.group(2))
        ctype = ColumnType(kind, fmt, precision=precision, scale=max(scale - shift, 0))
    if str(arrow_type(ctype)) != column.arrow_type:
        raise BadInput(
            f"the report of version {version} gives column {column.name!r} the type "
            f"{column.type} with the Arrow type {column.arrow_type!r}, which do not match"
        )
    return ctype


def _decimal_digits(arrow: str) -> tuple[int, int] | None:
    """(integer digits, scale) of a decimal128 Arrow type name."""
    match = _DECIMAL.match(arrow)
    if match is None:
        return None
    precision, scale = int(match.group(1)), int(match.group(2))
    return precision - scale, scale


def same_type(base: BaselineColumn, new: ColumnType) -> bool:
    """The new type stores the same values the same way; a decimal that fits within the
    baseline's precision and scale counts as the same."""
    if base.type != new.kind:
        return False
    new_arrow = str(arrow_type(new))
    if new_arrow == base.arrow_type:
        return True
    if new.kind is Kind.DECIMAL:
        have, need = _decimal_digits(base.arrow_type), _decimal_digits(new_arrow)
        return have is not None and need is not None and need[0] <= have[0] and need[1] <= have[1]
    return False


def widens(base: BaselineColumn, new: ColumnType) -> bool:
    """A safe widening: every baseline value still has its meaning in the new type."""
    kind = Kind(base.type)
    if kind is Kind.INT:
        return new.kind in (Kind.FLOAT, Kind.DECIMAL)
    if kind is Kind.DATE:
        return new.kind is Kind.TIMESTAMP
    if kind is Kind.DECIMAL and new.kind is Kind.DECIMAL:
        return not same_type(base, new)
    return False


# --- the diff ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewColumn:
    """One output column of this file, as inferred (before any policy)."""

    name: str
    type: ColumnType
    null_count: int
    counterexamples: tuple[tuple[str, int | None], ...] = ()


@dataclass
class SchemaDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    type_changed: list[dict[str, Any]] = field(default_factory=list)
    nullability: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Columns added, removed or retyped; nullability alone is not a schema change
        (every Parquet column is nullable), only recorded."""
        return bool(self.added or self.removed or self.type_changed)


def _nullable(nulls: int) -> str:
    return "nullable" if nulls else "not null"


def diff(baseline: Sequence[BaselineColumn], new: Sequence[NewColumn]) -> SchemaDiff:
    """What changed from the baseline's columns to this file's, by final column name."""
    before = {c.name: c for c in baseline}
    names = {c.name for c in new}
    out = SchemaDiff()
    for column in new:
        base = before.get(column.name)
        if base is None:
            out.added.append({"column": column.name, "type": str(column.type.kind)})
            continue
        if not same_type(base, column.type):
            out.type_changed.append(
                {
                    "column": column.name,
                    "from": base.type,
                    "to": str(column.type.kind),
                    "from_arrow_type": base.arrow_type,
                    "to_arrow_type": str(arrow_type(column.type)),
                    "widened": widens(base, column.type),
                    "counterexamples": [
                        {"line": line, "value": value} for value, line in column.counterexamples
                    ],
                }
            )
        if bool(base.null_count) != bool(column.null_count):
            out.nullability.append(
                {
                    "column": column.name,
                    "from": _nullable(base.null_count),
                    "to": _nullable(column.null_count),
                    "null_count": column.null_count,
                }
            )
    out.removed = [{"column": c.name, "type": c.type} for c in baseline if c.name not in names]
    return out


def describe(changes: dict[str, Any]) -> str:
    """A ``schema_change`` dict in one line: "added 'region' (string); removed 'menge'
    (int); 'betrag' changed from float to string by 'k.A.' on line 3 (kept float)"."""
    parts = [f"added {c['column']!r} ({c['type']})" for c in changes["added"]]
    parts += [f"removed {c['column']!r} ({c['type']})" for c in changes["removed"]]
    for change in changes["type_changed"]:
        text = f"{change['column']!r} changed from {change['from']} to {change['to']}"
        if change["from"] == change["to"]:
            text += f" ({change['from_arrow_type']} to {change['to_arrow_type']})"
        examples = change["counterexamples"]
        if examples:
            shown = ", ".join(
                f"{e['value']!r}" + (f" on line {e['line']}" if e["line"] is not None else "")
                for e in examples
            )
            text += f" by {shown}"
        if change.get("served_arrow_type", change["to_arrow_type"]) != change["to_arrow_type"]:
            kept = "widened to" if change["served"] != change["from"] else "kept"
            text += f" ({kept} {change['served']})"
        elif change["widened"]:
            text += " (widened)"
        parts.append(text)
    return "; ".join(parts)


def rejected_message(found: SchemaDiff, baseline: Baseline) -> str:
    listed = describe(schema_change_dict(None, "reject", found))
    return (
        f"the columns differ from version {baseline.version}, and this dataset rejects "
        f"schema changes (on_schema_change=reject): {listed}; version {baseline.version} "
        f"stays served"
    )


def missing_message(found: SchemaDiff, baseline: Baseline) -> str:
    names = ", ".join(repr(c["column"]) for c in found.removed)
    many = len(found.removed) > 1
    return (
        f"column{'s' if many else ''} {names} of version {baseline.version} "
        f"{'are' if many else 'is'} missing from this file; the dataset keeps the columns "
        f"of the version it serves (on_schema_change=pin): include "
        f"{'them' if many else 'it'} (empty values are fine), or upload with "
        f"on_schema_change=allow to drop {'them' if many else 'it'}"
    )


# --- pass 1: watching the baseline's columns --------------------------------------------


class Watch:
    """One column that the baseline served with a type other than text.

    Folds each batch into the column's stats as usual and notes, only in the batch
    where the baseline's type (then its family) dies, the first values that killed it
    with their lines.
    When its whole family dies (no number, or no date, left possible), the values that
    still look like that family are folded from then on into a ``shadow`` of the stats:
    the type the file would have without the misfits, to read its values with.
    """

    def __init__(self, kind: Kind) -> None:
        self.kind_candidates = kind_candidates(kind)
        self.family_candidates = kind_candidates(kind, family=True)
        self.kind_shapes = kind_shapes(kind)
        self.family_shapes = kind_shapes(kind, family=True)
        self.examples: list[tuple[str, int | None]] = []
        self.shadow: ColumnStats | None = None

    def fold(self, stats: ColumnStats, values: pa.Array, line_of: LineOf) -> None:
        if self.shadow is not None:
            accumulate(stats, values, line_of)
            self._fold_shadow(self.shadow, values)
            return
        kind_alive = bool(stats.alive & self.kind_candidates)
        before = copy_stats(stats) if stats.alive & self.family_candidates else None
        accumulate(stats, values, line_of)
        if kind_alive and not stats.alive & self.kind_candidates:
            misfit = (~fits_shape(values, self.kind_shapes)).nonzero()[0]
            self.examples = examples_at(values, misfit, None, line_of)
        if before is not None and not stats.alive & self.family_candidates:
            # What broke the whole family (the 'x' among decimals of an int column)
            # explains the change better than what only broke the kind.
            misfit = (~fits_shape(values, self.family_shapes)).nonzero()[0]
            if len(misfit):
                self.examples = examples_at(values, misfit, None, line_of)
            self.shadow = before
            self._fold_shadow(before, values)

    def _fold_shadow(self, shadow: ColumnStats, values: pa.Array) -> None:
        looks = fits_shape(values, self.family_shapes)
        accumulate(shadow, values.filter(pa.array(looks)))

    def fitting_type(self, decimal_comma_hint: bool) -> ColumnType | None:
        if self.shadow is None:
            return None
        return decide_type(self.shadow, decimal_comma_hint=decimal_comma_hint)


def watches(names: Sequence[str], baseline: Baseline) -> dict[int, Watch]:
    """A Watch for each input column that the baseline served as a non-text type."""
    kinds = {c.name: Kind(c.type) for c in baseline.columns}
    return {
        i: Watch(kinds[name])
        for i, name in enumerate(names)
        if name in kinds and kinds[name] is not Kind.STRING
    }


# --- what each output column becomes ---------------------------------------------------


@dataclass(frozen=True)
class Target:
    """How one output column is made: its values read as ``parse``, stored as ``served``;
    ``checked``: some may not fit (pinned to the baseline), and their rows are rejected."""

    parse: ColumnType
    served: ColumnType
    checked: bool = False
    # How the baseline's type was kept: "same", "widened", "pinned", "empty" (no value in
    # this file, kept all null), or "" for columns the baseline does not have.
    how: str = ""


def _reread(new: ColumnType, base: ColumnType) -> ColumnType | None:
    """``new``'s format read as the baseline's type, when that can only narrow or keep
    it (int text read as float, a date as a timestamp); None when it cannot."""
    if base.kind in (Kind.FLOAT, Kind.DECIMAL) and new.kind in NUMBERS:
        shift = 2 if new.fmt.startswith("percent") else 0
        base_shift = 2 if base.fmt.startswith("percent") else 0
        scale = base.scale + base_shift - shift
        if scale < 0:
            return None
        return ColumnType(base.kind, new.fmt, precision=base.precision, scale=scale)
    if base.kind is Kind.TIMESTAMP and new.kind is Kind.DATE:
        return new  # converted, then cast to the timestamp
    return None


def _widened(base: BaselineColumn, base_type: ColumnType, new: ColumnType) -> ColumnType | None:
    """The type a baseline column widens to, or None when ``new`` does not widen it."""
    if not widens(base, new):
        return None
    if base_type.kind is Kind.DECIMAL and new.kind is Kind.DECIMAL:
        have, need = _decimal_digits(base.arrow_type), _decimal_digits(str(arrow_type(new)))
        assert have is not None and need is not None
        integer, scale = max(have[0], need[0]), max(have[1], need[1])
        shift = 2 if new.fmt.startswith("percent") else 0
        if integer + scale > 38 or scale < shift:
            return None
        return ColumnType(Kind.DECIMAL, new.fmt, precision=integer + scale, scale=scale - shift)
    return new


def pin_target(
    base: BaselineColumn, base_type: ColumnType, new: ColumnType, fitting: ColumnType | None
) -> Target:
    """What a pinned baseline column becomes, given this file's inferred type ``new`` and
    ``fitting``, the type of its values that still look like the baseline's kind."""
    if base_type.kind is Kind.STRING:
        return Target(STRING, STRING, how="same" if new.kind is Kind.STRING else "pinned")
    if same_type(base, new):
        return Target(new, base_type, how="same")
    wider = _widened(base, base_type, new)
    if wider is not None:
        return Target(new, wider, how="widened")
    reread = _reread(new, base_type)
    if reread is not None:
        return Target(reread, base_type, checked=True, how="pinned")
    if fitting is not None and fitting.kind is not Kind.STRING:
        if same_type(base, fitting):
            return Target(fitting, base_type, checked=True, how="pinned")
        wider = _widened(base, base_type, fitting)
        if wider is not None:
            return Target(fitting, wider, checked=True, how="widened")
        reread = _reread(fitting, base_type)
        if reread is not None:
            return Target(reread, base_type, checked=True, how="pinned")
    return Target(base_type, base_type, checked=True, how="pinned")


@dataclass
class Plan:
    """What the comparison decided for this version's columns (input column indexes)."""

    baseline: Baseline
    policy: str
    names: list[str]
    new: list[NewColumn]
    targets: dict[int, Target]
    # Baseline columns with no value in this file: kept, all null, typed as before.
    empty: list[int]
    found: SchemaDiff

    def enforce(self) -> None:
        """BadInput for what the policy refuses: any change under ``reject``, a missing
        column under ``pin``."""
        if self.policy == "reject" and self.found.changed:
            raise BadInput(rejected_message(self.found, self.baseline))
        if self.policy == "pin" and self.found.removed:
            raise BadInput(missing_message(self.found, self.baseline))

    def with_nulls(self, nulls: dict[str, int]) -> None:
        """Recompute the diff with the null counts of the rows actually written."""
        self.new = [
            NewColumn(c.name, c.type, nulls.get(c.name, c.null_count), c.counterexamples)
            for c in self.new
        ]
        self.found = diff(self.baseline.columns, self.new)

    def as_dict(self, rejected: dict[str, int] | None = None) -> dict[str, Any]:
        by_name = {self.names[i]: t for i, t in self.targets.items()}
        return schema_change_dict(self.baseline, self.policy, self.found, by_name, rejected)


def plan(
    baseline: Baseline,
    policy: str,
    names: Sequence[str],
    types: Sequence[ColumnType],
    stats: Sequence[ColumnStats],
    watched: dict[int, Watch],
    decimal_comma_hint: bool,
) -> Plan:
    """Targets for every input column with values (or in the baseline), and the diff
    (null counts from pass 1 until :meth:`Plan.with_nulls`)."""
    base = {c.name: c for c in baseline.columns}
    targets: dict[int, Target] = {}
    empty: list[int] = []
    new: list[NewColumn] = []
    for i, name in enumerate(names):
        column = base.get(name)
        inferred = types[i]
        if column is None:
            if stats[i].values:
                targets[i] = Target(inferred, inferred)
                new.append(NewColumn(name, inferred, stats[i].nulls))
            continue
        base_type = baseline_type(column, baseline.version)
        if not stats[i].values:
            # Present but empty: not missing, and not dropped like other empty columns.
            empty.append(i)
            targets[i] = Target(base_type, base_type, how="empty")
            new.append(NewColumn(name, base_type, stats[i].nulls))
            continue
        watch = watched.get(i)
        examples = tuple(watch.examples) if watch is not None else ()
        new.append(NewColumn(name, inferred, stats[i].nulls, examples))
        if policy == "pin":
            fitting = watch.fitting_type(decimal_comma_hint) if watch is not None else None
            targets[i] = pin_target(column, base_type, inferred, fitting)
        elif same_type(column, inferred):
            # A decimal that fits the baseline's keeps the baseline's precision and scale.
            targets[i] = Target(inferred, base_type, how="same")
        else:
            targets[i] = Target(inferred, inferred)
    found = diff(baseline.columns, new)
    return Plan(baseline, policy, list(names), new, targets, empty, found)


def schema_change_dict(
    baseline: Baseline | None,
    policy: str,
    found: SchemaDiff | None,
    targets: dict[str, Target] | None = None,
    rejected: dict[str, int] | None = None,
) -> dict[str, Any]:
    """report.json's and the result manifest's ``schema_change``."""
    found = found or SchemaDiff()
    changes = []
    for change in found.type_changed:
        target = (targets or {}).get(change["column"])
        served = target.served if target is not None else None
        changes.append(
            {
                **change,
                "served": str(served.kind) if served else change["to"],
                "served_arrow_type": str(arrow_type(served)) if served else change["to_arrow_type"],
            }
        )
    out: dict[str, Any] = {
        "baseline": baseline.as_dict() if baseline is not None else None,
        "policy": policy,
        "added": found.added,
        "removed": found.removed,
        "type_changed": changes,
        "nullability": found.nullability,
        "changed": found.changed,
    }
    if policy == "pin":
        counts = rejected or {}
        out["rejected"] = dict(counts)
    return out
