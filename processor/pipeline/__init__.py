"""CSV → Parquet processing: ``process_csv`` is the entry point.

Pure and streaming: the input is read twice through ``open_input()`` (types are
decided over the whole file, then values are converted and written), memory does not
grow with the file except for the bounded duplicate index. See ``process.py``.
"""

from .errors import BadInput
from .options import ProcessOptions
from .process import process_csv

__all__ = ["BadInput", "ProcessOptions", "process_csv"]
