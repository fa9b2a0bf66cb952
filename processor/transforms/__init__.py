"""What a pandas transform declares (README: Your own pandas step).

An operator registers a function by name (MINI_PROCESSOR__TRANSFORMS='{"name":
"package.module:function"}'); an upload chooses it with ``?transform=name``. The
function gets each batch of cleaned, typed rows as a ``pandas.DataFrame`` with
Arrow-backed dtypes (``int64[pyarrow]``, ``decimal128(p, s)[pyarrow]``, ``pd.NA`` for
nulls) and returns a frame with the columns it declares::

    from processor.transforms import transform

    @transform(version="1", add={"net": "float"})
    def with_net(frame):
        frame["net"] = frame["total"] / 1.2
        return frame

The declaration is the output's schema, decided before any row is read: the input's
columns, less ``drop``, with ``retype``'s new types, then ``add``'s columns at the end;
or, for anything else, ``output``, a function from the input's Arrow schema to the
output's. ``needs`` names the columns it reads: a file without them fails before any
row is read, with a message naming them. Types are the processor's names (``int``,
``float``, ``bool``, ``date``, ``timestamp``, ``string``) or pyarrow types
(``pa.decimal128(12, 2)``, ``pa.timestamp("us", tz="UTC")``). Nothing here imports
pandas: the processor imports it only for a run that uses a transform.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import pyarrow as pa

ATTRIBUTE = "__mini_transform__"
TypeSpec: TypeAlias = "str | pa.DataType"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Declaration:
    """A transform's version (named in every report) and its output schema."""

    version: str
    add: Mapping[str, TypeSpec] = field(default_factory=dict)
    drop: Sequence[str] = ()
    retype: Mapping[str, TypeSpec] = field(default_factory=dict)
    output: Callable[[pa.Schema], pa.Schema] | None = None
    description: str = ""
    # Columns it reads: a file without one fails before any row is read.
    needs: Sequence[str] = ()


def transform(
    *,
    version: str,
    add: Mapping[str, TypeSpec] | None = None,
    drop: Sequence[str] = (),
    retype: Mapping[str, TypeSpec] | None = None,
    output: Callable[[pa.Schema], pa.Schema] | None = None,
    description: str = "",
    needs: Sequence[str] = (),
) -> Callable[[F], F]:
    """Declare a function a transform (see the module's docstring)."""
    if not isinstance(version, str) or not version.strip():
        raise ValueError("a transform needs a version string, e.g. version='1'")
    if output is not None and (add or drop or retype):
        raise ValueError("give either output= or add/drop/retype, not both")
    declared = Declaration(
        version=version.strip(),
        add=dict(add or {}),
        drop=tuple(drop),
        retype=dict(retype or {}),
        output=output,
        description=description,
        needs=tuple(needs),
    )

    def mark(function: F) -> F:
        setattr(function, ATTRIBUTE, declared)
        return function

    return mark
