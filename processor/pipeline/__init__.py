"""CSV → Parquet processing: ``process_csv`` is the entry point.

Pure and streaming: the CSV is parsed once and its cleaned rows are read twice from a
local spill (types are decided over the whole file, then values are converted and
written); memory does not grow with the file. See ``process.py``.

The names below are imported on first use: importing a light submodule, or the package
for BadInput alone, does not load pyarrow's compute kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import BadInput

if TYPE_CHECKING:
    from .options import ProcessOptions
    from .process import process_csv

__all__ = ["BadInput", "ProcessOptions", "process_csv"]


def __getattr__(name: str) -> Any:
    if name == "ProcessOptions":
        from .options import ProcessOptions

        return ProcessOptions
    if name == "process_csv":
        from .process import process_csv

        return process_csv
    raise AttributeError(name)
