"""An operator's pandas transform, applied to each typed batch of the write pass
(README: Your own pandas step).

Loading: the name an upload chose is looked up in MINI_PROCESSOR__TRANSFORMS (never
code from a client), pandas is let in (processor/nopandas.py) and the module is
imported. The declared output schema is computed once from the columns the file
has, before any row is read; each batch then goes to pandas with Arrow-backed dtypes
(nulls stay ``pd.NA``, decimals and timestamps keep their precision), through the
function, and back to Arrow against that schema. A frame that does not match it, or an
exception in the function, fails the version naming the transform, the column and
the batch's lines; nothing is published then.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import pyarrow as pa

from processor.nopandas import allow_pandas
from processor.transforms import ATTRIBUTE, Declaration, TypeSpec

from .errors import BadInput

# The types a transform may give a column: the processor's own, which serving,
# filters, statistics and the next version's comparison all know.
NAMED_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "string": pa.string(),
    "text": pa.string(),
}
# A message quotes this much of the transform's own exception.
MESSAGE_CHARS = 500


def type_kind(typ: pa.DataType) -> str | None:
    """The report's type name of an Arrow type the processor stores; None otherwise."""
    if typ == pa.int64():
        return "int"
    if typ == pa.float64():
        return "float"
    if pa.types.is_decimal128(typ):
        return "decimal"
    if typ == pa.bool_():
        return "bool"
    if typ == pa.date32():
        return "date"
    if pa.types.is_timestamp(typ) and typ.unit == "us":
        return "timestamp"
    if typ == pa.string():
        return "string"
    return None


def declared_type(spec: TypeSpec, column: str, where: str) -> pa.DataType:
    if isinstance(spec, pa.DataType):
        typ = spec
    elif isinstance(spec, str) and spec.strip().lower() in NAMED_TYPES:
        typ = NAMED_TYPES[spec.strip().lower()]
    elif isinstance(spec, str) and spec.strip().lower() == "decimal":
        raise BadInput(
            f"{where} declares column {column!r} as 'decimal': give its precision and "
            "scale, e.g. pa.decimal128(12, 2)"
        )
    else:
        raise BadInput(f"{where} declares column {column!r} with the unknown type {spec!r}")
    if type_kind(typ) is None:
        raise BadInput(
            f"{where} declares column {column!r} as {typ}, which the processor does not "
            "store; use int64, float64, decimal128, bool, date32, timestamp[us] or string"
        )
    return typ


@dataclass(frozen=True)
class Transform:
    """A registered transform, loaded: its name, where it lives, what it declares."""

    name: str
    target: str  # "package.module:function"
    declaration: Declaration
    function: Callable[[Any], Any]

    @property
    def version(self) -> str:
        return self.declaration.version

    @property
    def where(self) -> str:
        return f"the transform {self.name!r} ({self.target}, version {self.version})"

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """The declared schema of the output, given the input's (BadInput when the
        declaration does not fit this file's columns)."""
        declared = self.declaration
        names = list(schema.names)
        lacking = [c for c in declared.needs if c not in names]
        if lacking:
            raise BadInput(
                f"{self.where} needs column(s) {_names(lacking)}, which this file does not "
                f"have; its columns are {_names(names)}"
            )
        if declared.output is not None:
            try:
                out = declared.output(schema)
            except Exception as exc:
                raise BadInput(f"{self.where} could not declare its output: {_said(exc)}") from None
            if not isinstance(out, pa.Schema):
                raise BadInput(f"{self.where}: output= must return a pyarrow Schema")
            fields = [schema.field(f.name).with_type(f.type) if f.name in names else f for f in out]
        else:
            missing = [c for c in [*declared.drop, *declared.retype] if c not in names]
            if missing:
                raise BadInput(
                    f"{self.where} needs column(s) {_names(missing)}, which this file does "
                    f"not have; its columns are {_names(names)}"
                )
            clash = [c for c in declared.add if c in names and c not in declared.drop]
            if clash:
                raise BadInput(
                    f"{self.where} adds column(s) {', '.join(repr(c) for c in clash)}, "
                    "which this file already has; declare them in retype= instead"
                )
            fields = []
            for f in schema:
                if f.name in declared.drop:
                    continue
                if f.name in declared.retype:
                    f = f.with_type(declared_type(declared.retype[f.name], f.name, self.where))
                fields.append(f)
            for column, spec in declared.add.items():
                fields.append(pa.field(column, declared_type(spec, column, self.where)))
        seen: set[str] = set()
        for f in fields:
            if not f.name or f.name in seen:
                raise BadInput(f"{self.where} declares the column {f.name!r} twice or unnamed")
            seen.add(f.name)
            declared_type(f.type, f.name, self.where)
        fields = [f.with_nullable(True) for f in fields]
        return pa.schema(fields, metadata=_schema_metadata(schema, fields, self))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "function": self.target, "version": self.version}


def _schema_metadata(
    schema: pa.Schema, fields: list[pa.Field], used: Transform
) -> dict[bytes, bytes]:
    """The input's Parquet metadata, its original names following the output's columns
    (None for a column the transform added), and the transform."""
    from .writer import METADATA_KEY

    raw = (schema.metadata or {}).get(METADATA_KEY)
    meta: dict[str, Any] = json.loads(raw) if raw else {}
    originals = dict(zip(schema.names, meta.get("original_names") or schema.names, strict=False))
    meta["original_names"] = [originals.get(f.name) for f in fields]
    meta["transform"] = used.as_dict()
    return {METADATA_KEY: json.dumps(meta).encode()}


def _said(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "…"


def load(name: str, registry: Mapping[str, str], path: list[Path] | None = None) -> Transform:
    """The transform registered under ``name``; BadInput when it is not registered or
    cannot be loaded (the version fails with that message)."""
    target = registry.get(name)
    if target is None:
        known = ", ".join(sorted(registry)) or "none is registered"
        raise BadInput(
            f"the transform {name!r} is not registered (MINI_PROCESSOR__TRANSFORMS; known: "
            f"{known}); reprocess with ?transform=none or another one"
        )
    module_name, _, function_name = target.partition(":")
    for folder in reversed(path or []):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    # The one kind of run that uses pandas: let it in before the module imports it.
    allow_pandas()
    try:
        import pandas  # noqa: F401 - pyarrow's pandas conversions need it loaded

        module = importlib.import_module(module_name)
        function = getattr(module, function_name)
    except Exception as exc:
        raise BadInput(
            f"the transform {name!r} ({target}) cannot be loaded: {_said(exc)}"
        ) from None
    declared = getattr(function, ATTRIBUTE, None)
    if not callable(function) or not isinstance(declared, Declaration):
        raise BadInput(
            f"the transform {name!r} ({target}) is not declared: decorate the function "
            "with @processor.transforms.transform(version=..., ...)"
        )
    return Transform(name, target, declared, function)


# Arrow types a returned column may have for each declared one: the same kind of value
# in another width or flavour (pandas' own int64 or str dtypes, large_string), cast
# safely, so a value that does not fit fails instead of being changed.
def _family(typ: pa.DataType) -> str:
    t = pa.types
    if t.is_integer(typ):
        return "int"
    if t.is_floating(typ):
        return "float"
    if t.is_decimal(typ):
        return "decimal"
    if t.is_string(typ) or t.is_large_string(typ) or t.is_string_view(typ):
        return "string"
    if t.is_date(typ):
        return "date"
    if t.is_timestamp(typ):
        return "timestamp" if typ.tz is None else "timestamp with zone"
    return str(typ)


# Which returned kinds each declared kind takes (besides itself).
_WIDER = {"float": {"int"}, "decimal": {"int"}}


def _compatible(got: pa.DataType, want: pa.DataType) -> bool:
    if pa.types.is_null(got):
        return True
    have, need = _family(got), _family(want)
    return have == need or have in _WIDER.get(need, set())


@dataclass
class Applied:
    """What the transform did over the whole file, for the report."""

    batches: int = 0
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0
    # Lines of the rows it removed, the first few.
    removed_lines: list[int] = field(default_factory=list)


SAMPLE_LINES = 20


class BatchTransform:
    """Applies a transform to one typed batch at a time; counts what it did."""

    def __init__(self, used: Transform, schema_in: pa.Schema, schema_out: pa.Schema) -> None:
        import pandas as pd

        self.used = used
        self.schema_in = schema_in
        self.schema_out = schema_out
        self.applied = Applied()
        self._pd = pd

    def __call__(self, batch: pa.RecordBatch, lines: np.ndarray) -> pa.RecordBatch:
        """``batch``'s rows transformed; ``lines``: their physical lines, in order."""
        if not batch.num_rows:
            return pa.RecordBatch.from_pylist([], schema=self.schema_out)
        pd = self._pd
        span = f"lines {int(lines.min())}-{int(lines.max())}" if len(lines) else "a batch"
        where = f"{self.used.where} on {span}"
        frame = batch.to_pandas(types_mapper=pd.ArrowDtype)
        # A marker column would show in the frame: the row's line is kept by index.
        frame.index = pd.Index(lines, name="line")
        started = perf_counter()
        try:
            result = self.used.function(frame)
        except (Exception, SystemExit) as exc:
            raise BadInput(f"{where} failed: {_said(exc)}{_origin(exc, self.used)}") from None
        self.applied.seconds += perf_counter() - started
        if result is None:
            raise BadInput(f"{where} returned None; it must return the DataFrame")
        if not isinstance(result, pd.DataFrame):
            raise BadInput(f"{where} returned a {type(result).__name__}, not a DataFrame")
        out = self._to_arrow(result, where)
        if out.num_rows > batch.num_rows:
            raise BadInput(
                f"{where} returned {out.num_rows} rows for {batch.num_rows}; a transform "
                "may remove rows, not add them"
            )
        self._count(batch.num_rows, out.num_rows, lines, result)
        return out

    def _to_arrow(self, result: Any, where: str) -> pa.RecordBatch:
        columns = [str(c) for c in result.columns]
        if len(set(columns)) != len(columns):
            twice = sorted({c for c in columns if columns.count(c) > 1})
            raise BadInput(f"{where} returned column(s) {', '.join(map(repr, twice))} twice")
        wanted = self.schema_out.names
        missing = [c for c in wanted if c not in columns]
        extra = [c for c in columns if c not in wanted]
        if missing or extra:
            said = []
            if missing:
                said.append(f"did not return the declared column(s) {_names(missing)}")
            if extra:
                said.append(f"returned undeclared column(s) {_names(extra)}")
            raise BadInput(f"{where} {' and '.join(said)}; it declares {_names(wanted)}")
        arrays = []
        for f in self.schema_out:
            arrays.append(self._column(result[f.name], f, where))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema_out)

    def _column(self, series: Any, f: pa.Field, where: str) -> pa.Array:
        try:
            values = pa.array(series, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise BadInput(
                f"{where}: column {f.name!r} cannot be stored as {f.type}: {_said(exc)}"
            ) from None
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if values.type == f.type:
            return values
        if not _compatible(values.type, f.type):
            raise BadInput(
                f"{where}: column {f.name!r} is {values.type} ({series.dtype}) but the "
                f"transform declares it {f.type}"
            )
        try:
            return values.cast(f.type, safe=True)
        except (pa.ArrowException, ValueError) as exc:
            raise BadInput(
                f"{where}: column {f.name!r} does not fit its declared type {f.type}: {_said(exc)}"
            ) from None

    def _count(self, rows_in: int, rows_out: int, lines: np.ndarray, result: Any) -> None:
        applied = self.applied
        applied.batches += 1
        applied.rows_in += rows_in
        applied.rows_out += rows_out
        if rows_out < rows_in and len(applied.removed_lines) < SAMPLE_LINES:
            # The index carried each row's line through the function, unless it reset it.
            kept = np.asarray(result.index, dtype=object)
            if len(kept) == rows_out and set(kept.tolist()) <= set(lines.tolist()):
                gone = np.setdiff1d(lines, kept.astype(np.int64))
                room = SAMPLE_LINES - len(applied.removed_lines)
                applied.removed_lines.extend(int(x) for x in gone[:room])


def _names(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns[:50])


def _origin(exc: BaseException, used: Transform) -> str:
    """ " (at examples.py:42 in with_net)": the innermost frame in the transform's own
    module (not in pandas, below it), for the operator."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # [0] is BatchTransform's call
    if not frames:
        return ""
    code = getattr(used.function, "__code__", None)
    own = [f for f in frames if code is not None and f.filename == code.co_filename]
    last = own[-1] if own else frames[-1]
    return f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
