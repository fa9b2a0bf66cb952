"""Keeping pandas out of the processor's process, and letting it in for a transform.

The processor's own work never uses pandas, but pyarrow imports it at the first
pa.array or pa.scalar, only to ask whether the value is a pandas object: 0.15 s of a
tiny file's start. Without pandas, pyarrow answers no. A run whose upload chose a
pandas transform (README: Your own pandas step) is the one exception: it lets pandas
in before importing the transform, and pyarrow tries the import again when asked.
"""

from __future__ import annotations

import sys


class _NoPandas:
    """A meta path finder that refuses pandas (see without_pandas)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] == "pandas":
            raise ImportError("the processor runs without pandas")


def without_pandas() -> None:
    """Keep pandas out of this process, unless something imported it already. Only
    for a process of its own (the command line, the fork server): a library caller
    may still want pandas."""
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())


def allow_pandas() -> None:
    """Let pandas be imported again (a run with a transform)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _NoPandas)]
