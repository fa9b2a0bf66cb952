"""report.json: what was detected, typed, cleaned, rejected and written, and how long
each phase took."""

from __future__ import annotations

import json
from time import perf_counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .convert import arrow_type
from .dialect import Dialect
from .encoding import EncodingInfo
from .infer import MARKED, ColumnStats, Kind, counterexamples, type_notes
from .schema_change import a_type
from .stats import ColumnSummary, json_value
from .transform import Transform, type_kind
from .version import processor_version

if TYPE_CHECKING:
    from .dedup import Plan
    from .options import Baseline
    from .process import Layout, Scan, Written

DATA_FILE = "data.parquet"
REJECTS_FILE = "rejects.csv"


class Timings:
    """Wall-clock seconds per phase, in the order they ran."""

    def __init__(self) -> None:
        self._start = self._last = perf_counter()
        self.phases: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = perf_counter()
        self.phases[phase] = now - self._last
        self._last = now

    def as_dict(self) -> dict[str, float]:
        out = {k: round(v, 4) for k, v in self.phases.items()}
        out["total"] = round(perf_counter() - self._start, 4)
        return out


def _encoding_confidence(encoding: EncodingInfo) -> float:
    # A BOM or the user's word is certain; strict UTF-8 decoding of a whole sample
    # almost never succeeds by accident; a single-byte codepage is a guess.
    return {"option": 1.0, "bom": 1.0, "utf-8": 0.99, "nul-pattern": 0.9}.get(
        encoding.detected_by, 0.6
    )


def detection(encoding: EncodingInfo, dialect: Dialect) -> dict[str, Any]:
    """Each detected value with how sure we are (1.0: given by the user or certain)."""
    header_confidence = 1.0
    if dialect.header_detected:
        header_confidence = min(0.99, 0.6 + 0.1 * abs(dialect.header_votes))
    return {
        "encoding": {
            "value": encoding.encoding,
            "by": encoding.detected_by,
            "confidence": _encoding_confidence(encoding),
        },
        "delimiter": {
            "value": "whitespace" if dialect.aligned or dialect.whitespace else dialect.delimiter,
            "confidence": round(dialect.delimiter_score, 3),
        },
        # "fixed-width": columns at fixed character positions; "whitespace-runs":
        # fields split at runs of spaces and tabs outside quotes; "delimited".
        "layout": {
            "value": "fixed-width"
            if dialect.aligned
            else ("whitespace-runs" if dialect.whitespace else "delimited"),
            "confidence": round(dialect.delimiter_score, 3),
        },
        "quote": {"value": dialect.quote},
        "header": {
            "value": dialect.has_header,
            "by": "detection" if dialect.header_detected else "option",
            "confidence": round(header_confidence, 2),
        },
        # Row labels: the header has no cell for the first column (one field short, as
        # R's write.table writes, or an empty first cell); that column is named row_label.
        "row_labels": {
            "value": dialect.row_labels,
            "confidence": 0.9 if dialect.row_labels else 1.0,
        },
        "preamble": {
            "lines_skipped": dialect.skip_lines,
            "title_rows": dialect.title_rows,
            "comment_block_lines": dialect.comment_block_lines,
        },
    }


_WRITTEN_FORMS = {
    "named": "dates with month names",
    "ymd/": "yyyy/mm/dd dates",
    "ymd/ time": "yyyy/mm/dd date-times",
}


def written_forms(layout: Layout, scan: Scan) -> list[dict[str, Any]]:
    """Columns read through a written form (numbers with currency or sign marks, month
    names, two-digit years, yyyy/mm/dd): every value parsed, so the confidence is 1."""
    forms = []
    for i in layout.kept:
        ctype, stats = layout.types[i], scan.stats[i]
        found = []
        if ctype.fmt.startswith(MARKED):
            found.append(f"numbers with marks ({stats.marks.describe()})")
        if ctype.fmt in _WRITTEN_FORMS:
            found.append(_WRITTEN_FORMS[ctype.fmt])
        if ctype.kind in (Kind.DATE, Kind.TIMESTAMP) and stats.short_years:
            found.append("two-digit years")
        forms += [{"column": layout.names[i], "form": form, "confidence": 1.0} for form in found]
    return forms


# Text quoted in the report (min, max, top values) is cut at this many characters: a
# wide file of long cells would otherwise make the report grow with columns x cell size.
# A column whose quotes were cut says so (`values_cut_at`); the data itself is whole.
QUOTED_TEXT_CHARS = 200


def _cut(value: Any) -> tuple[Any, bool]:
    value = json_value(value)
    if isinstance(value, str) and len(value) > QUOTED_TEXT_CHARS:
        return value[:QUOTED_TEXT_CHARS] + "\u2026", True
    return value, False


def quoted_values(facts: ColumnSummary) -> dict[str, Any]:
    low, low_cut = _cut(facts.minimum)
    high, high_cut = _cut(facts.maximum)
    top = None
    top_cut = False
    if facts.track_top:
        top = []
        for entry in facts.top_values():
            value, cut = _cut(entry["value"])
            top_cut |= cut
            top.append({**entry, "value": value})
    quoted: dict[str, Any] = {"min": low, "max": high, "top_values": top}
    if low_cut or high_cut or top_cut:
        quoted["values_cut_at"] = QUOTED_TEXT_CHARS
    return quoted


def build_report(
    *,
    encoding: EncodingInfo,
    dialect: Dialect,
    scan: Scan,
    layout: Layout,
    plan: Plan,
    written: Written,
    timings: Timings,
) -> dict[str, Any]:
    summary = written.summary
    assert summary is not None
    given = input_columns(layout, scan, written)
    columns = given if layout.served is None else served_columns(layout, given, written)
    dropped = [
        {"name": layout.names[i], "original_name": layout.original_names[i], "reason": "no values"}
        for i in layout.dropped
    ]
    rejects = scan.rejects
    renamed = sum(1 for n, o in zip(layout.names, layout.original_names, strict=True) if n != o)
    rows_in = scan.rows_in
    empty_rows = scan.clean.empty_rows + scan.log.blank
    return {
        "processor_version": processor_version(),
        "pyarrow_version": pa.__version__,
        "input": {"bytes": scan.input_bytes, "sha256": scan.sha256},
        "source": {
            "encoding": encoding.encoding,
            "bom": encoding.bom,
            "encoding_detected_by": encoding.detected_by,
            "delimiter": "whitespace"
            if dialect.aligned or dialect.whitespace
            else dialect.delimiter,
            "quote": dialect.quote,
            "aligned_columns": [list(span) for span in dialect.aligned]
            if dialect.aligned
            else None,
            "space_before_quotes_removed": dialect.space_before_quote,
            "line_endings": dialect.line_endings,
            "header": {
                "present": dialect.has_header,
                "detected": dialect.header_detected,
                "line": dialect.skip_lines + 1 if dialect.has_header else None,
            },
            "lines_skipped_before_header": dialect.skip_lines,
            "title_rows": dialect.title_rows,
            "note_lines_skipped_after_table": rejects.footer_lines,
            "comment_lines_skipped": rejects.comment_lines,
        },
        "detection": {**detection(encoding, dialect), "written_forms": written_forms(layout, scan)},
        "columns": columns,
        # With a transform: the columns it was given (moved into report["transform"]).
        **({"input_columns": given} if layout.served is not None else {}),
        "columns_dropped": dropped,
        "rows_in": rows_in,
        "rows_out": written.rows_out,
        "rows_rejected": rejects.count,
        # The name the first versions of the report used; kept for older readers.
        "rows_malformed": rejects.count,
        "duplicates_removed": written.duplicates_removed,
        # Exact duplicate rows are always found and named; removed only with dedupe.
        "duplicates": {
            "count": written.duplicates,
            "removed": written.duplicates_removed,
            "lines": [d["line"] for d in written.duplicate_sample],
            "sample": written.duplicate_sample,
        },
        "empty_rows_removed": empty_rows,
        # Comment lines, and notes below the table: skipped like titles above it.
        "note_rows_skipped": rejects.skipped_rows,
        "steps": {
            "read": {"rows": rows_in, "read_block_bytes": scan.block_size},
            "reject": {
                "rows_removed": rejects.count,
                "lines": rejects.lines,
                "by_reason": dict(rejects.reasons),
            },
            "header": {"names_changed": renamed},
            "trim": {"values_changed": scan.clean.values_trimmed},
            "null_tokens": {
                "values_nulled": scan.clean.values_nulled,
                "tokens": [token.decode() for token in scan.clean.tokens.encoded],
            },
            "empty_rows": {"rows_removed": empty_rows},
            "empty_columns": {
                "columns_removed": len(dropped),
                "names": [d["original_name"] for d in dropped],
            },
            "deduplicate": {
                "rows_removed": written.duplicates_removed,
                "duplicates_found": written.duplicates,
                "complete": True,
                "candidate_rows": plan.candidates,
                "hash_collisions_kept": written.collisions,
                "groups_spilled_to_disk": written.groups_spilled,
            },
            "write": {
                "rows": written.rows_out,
                "row_groups": written.row_groups,
                "bytes": written.parquet_bytes,
                "dictionary_columns": written.dictionary,
            },
        },
        "rejects": {
            "count": rejects.count,
            "lines": rejects.lines,
            "file": REJECTS_FILE if rejects.count else None,
            "sample": rejects.sample,
        },
        "malformed_rows": rejects.sample,
        "top_values_sampled": summary.sampled,
        "warnings": warnings(encoding, dialect, scan, layout, written),
        "output": {"data": DATA_FILE, "bytes": written.parquet_bytes},
        "durations_s": timings.as_dict(),
    }


def input_columns(layout: Layout, scan: Scan, written: Written) -> list[dict[str, Any]]:
    """The report's entries of the file's kept columns (before a transform, whose
    output ``served_columns`` describes)."""
    summary = written.summary
    assert summary is not None
    columns = []
    for position, i in enumerate(layout.kept):
        ctype = layout.types[i]
        stored = layout.stored_type(i)
        read_as = layout.targets[i].parse if layout.targets is not None else ctype
        stats = scan.stats[i]
        # With a transform, what is served is its output: these are the facts it was given.
        given = layout.served is not None
        facts = (
            ColumnSummary(nulls=written.input_nulls[position])
            if given
            else summary.columns[position]
        )
        columns.append(
            {
                "name": layout.names[i],
                "original_name": layout.original_names[i],
                "type": str(stored.kind),
                "format": read_as.label or None,
                "arrow_type": str(arrow_type(stored)),
                "null_count": facts.nulls,
                "distinct_estimate": None if given else written.distinct[position],
                **quoted_values(facts),
                "notes": column_notes(layout, i, stats),
                "counterexamples": counterexamples(stats),
            }
        )
    return columns


def served_columns(
    layout: Layout, entries: list[dict[str, Any]], written: Written
) -> list[dict[str, Any]]:
    """The entries of a transform's output columns: a column it keeps keeps its entry
    (the facts of what is served); one it adds or retypes says so."""
    summary = written.summary
    assert summary is not None and layout.served is not None
    by_name = {entry["name"]: entry for entry in entries}
    used = layout.served.metadata or {}
    name = json.loads(used.get(b"mini_pipeline", b"{}")).get("transform", {}).get("name")
    columns = []
    for position, f in enumerate(layout.served):
        facts = summary.columns[position]
        base = by_name.get(f.name)
        kind = type_kind(f.type) or "string"
        if base is None:
            entry = {"name": f.name, "original_name": None, "format": None, "counterexamples": []}
            notes = [f"added by the transform {name!r}"]
        elif base["arrow_type"] != str(f.type):
            entry = {**base, "format": None, "counterexamples": []}
            notes = [f"{base['type']} in the file; {kind} from the transform {name!r}"]
        else:
            entry, notes = dict(base), base["notes"]
        entry.update(
            {
                "type": kind,
                "arrow_type": str(f.type),
                "null_count": facts.nulls,
                "distinct_estimate": written.distinct[position],
                **quoted_values(facts),
                "notes": notes,
            }
        )
        columns.append(entry)
    return columns


# What the next version's comparison reads of the columns a transform was given.
INPUT_COLUMN_KEYS = ("name", "original_name", "type", "format", "arrow_type", "null_count")


def transform_report(
    report: dict[str, Any], used: Transform, layout: Layout, written: Written
) -> None:
    """report.json's ``transform`` (what it is, what it did to rows and columns, and the
    columns it was given: the next version's comparison reads those), its rows in the
    accounting, and a warning when it removed rows."""
    applied = written.transform
    assert applied is not None and layout.served is not None
    given = {f.name: f.type for f in layout.schema}
    served = {f.name: f.type for f in layout.served}
    removed = applied.rows_in - applied.rows_out
    report["transform"] = {
        **used.as_dict(),
        "description": used.declaration.description or None,
        "rows_in": applied.rows_in,
        "rows_out": applied.rows_out,
        "rows_removed": removed,
        "removed_lines": applied.removed_lines,
        "batches": applied.batches,
        "seconds": round(applied.seconds, 4),
        "columns_added": [
            {"column": n, "type": type_kind(t), "arrow_type": str(t)}
            for n, t in served.items()
            if n not in given
        ],
        "columns_removed": [
            {"column": n, "type": type_kind(t), "arrow_type": str(t)}
            for n, t in given.items()
            if n not in served
        ],
        "columns_retyped": [
            {"column": n, "from": str(t), "to": str(served[n])}
            for n, t in given.items()
            if n in served and served[n] != t
        ],
        "input_columns": [
            {k: c[k] for k in INPUT_COLUMN_KEYS} for c in report.pop("input_columns")
        ],
    }
    report["rows_removed_by_transform"] = removed
    report["steps"]["transform"] = {"rows_removed": removed, "batches": applied.batches}
    if removed:
        lines = ", ".join(str(n) for n in applied.removed_lines[:5])
        where = f" (the first on line(s) {lines})" if lines else ""
        report["warnings"].append(
            f"the transform {used.name!r} (version {used.version}) removed {removed} row(s){where}"
        )


def transform_change(report: dict[str, Any], baseline: Baseline, used: Transform | None) -> None:
    """When the version served before went through another transform (or none), the
    served columns change by that choice, not by the file: ``transform_change`` and a
    warning say how, since the schema comparison looks at the files' columns."""
    now = used.name if used is not None else None
    if baseline.transform == now:
        return
    served = [c["name"] for c in report["columns"]]
    added = [c for c in served if c not in baseline.served]
    removed = [c for c in baseline.served if c not in served]
    report["transform_change"] = {
        "from": baseline.transform,
        "to": now,
        "columns_added": added,
        "columns_removed": removed,
    }
    what = []
    if added:
        what.append(f"added {', '.join(added[:20])}")
    if removed:
        what.append(f"removed {', '.join(removed[:20])}")
    report["warnings"].append(
        f"version {baseline.version} was served through "
        f"{_transform_phrase(baseline.transform)}, this one through {_transform_phrase(now)}"
        + (f": served columns {'; '.join(what)}" if what else "")
    )


def _transform_phrase(name: str | None) -> str:
    return f"the transform {name!r}" if name else "no transform"


def column_notes(layout: Layout, i: int, stats: ColumnStats) -> list[str]:
    """Why a column has its type: inference's reasons, or the baseline's when the
    version served before decided it (schema drift)."""
    ctype = layout.types[i]
    target = layout.targets[i] if layout.targets is not None else None
    drift = layout.drift
    if target is not None and target.how == "forced":
        served = str(target.served.kind)
        note = f"{served} as the types option asks"
        if ctype.kind != target.served.kind:
            note += f"; on its own this file would make it {ctype.kind}"
        if target.checked:
            note += f"; rows with a value that is not {a_type(served)} are rejected"
        return [note]
    if target is None or drift is None or not target.how or target.how == "same":
        return layout.notes.get(i, []) + type_notes(stats, ctype)
    version = drift.baseline.version
    served = str(target.served.kind)
    if target.how == "empty":
        return [
            f"no value in this file: kept, all null, as the {served} column of version {version}"
        ]
    if target.how == "widened":
        before = next(c.type for c in drift.baseline.columns if c.name == layout.names[i])
        return [f"widened from {before} in version {version} to {served}"]
    note = (
        f"kept as {served}, its type in version {version} (on_schema_change=pin); on its own "
        f"this file would make it {ctype.kind}"
    )
    if target.checked:
        note += f"; rows with a value that is not {a_type(served)} are rejected"
    return [note]


def warnings(
    encoding: EncodingInfo, dialect: Dialect, scan: Scan, layout: Layout, written: Written
) -> list[str]:
    """Things a person should double-check, in plain words."""
    out: list[str] = []
    if encoding.detected_by == "charset-normalizer":
        out.append(f"the file is not UTF-8; it was read as {encoding.encoding} (a guess)")
    if encoding.detected_by == "nul-pattern":
        out.append(f"the file has no byte order mark; it was read as {encoding.encoding}")
    if dialect.title_rows:
        out.append(
            f"skipped {dialect.skip_lines} line(s) above the header that look like titles or notes"
        )
    if scan.rejects.footer_lines:
        out.append(
            f"skipped {scan.rejects.footer_lines} line(s) below the table, after a blank line, "
            f"that look like notes: {scan.rejects.footer_sample[0]!r}"
        )
    if scan.rejects.comment_lines:
        out.append(f"skipped {scan.rejects.comment_lines} comment line(s) starting with '#'")
    if scan.rejects.count:
        out.append(
            f"{scan.rejects.count} row(s) were rejected and left out; see rejects.csv "
            f"(line, reason and the raw text)"
        )
    if layout.dropped:
        names = ", ".join(repr(layout.original_names[i] or f"#{i + 1}") for i in layout.dropped)
        out.append(f"dropped column(s) without any value: {names}")
    if written.duplicates and not written.duplicates_removed:
        first = written.duplicate_sample[0] if written.duplicate_sample else {}
        where = ""
        if first.get("line") is not None:
            where = f" (the first on line {first['line']}"
            if first.get("duplicate_of") is not None:
                where += f", a copy of line {first['duplicate_of']}"
            where += ")"
        out.append(
            f"{written.duplicates} row(s) repeat an earlier row exactly{where}; they were "
            f"kept (they may be separate records): process with dedupe=true to remove them"
        )
    elif written.duplicates_removed:
        out.append(f"{written.duplicates_removed} exact duplicate row(s) were removed (dedupe)")
    if written.collisions:
        out.append(
            f"{written.collisions} row(s) shared a hash with an earlier, different row and "
            f"were kept (compared value by value)"
        )
    return out
