"""Day/month/year dates written with a fixed width ("05/03/2023"): what type inference
needs to know of them, and their conversion, in one compiled pass each
(native/dates_bools.c).

Most files pad days and months to two digits. Other forms ("5/3/2023") take the
general path in infer.py (regular expressions and pyarrow's parsers).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import _native
from .strbuf import column_buffers, with_nulls_of


def day_month_facts(values: pa.Array, sep: str) -> tuple[int, int, bool, bool] | None:
    """(largest first field, largest second field, every value a real date read day
    first, read month first) when every non-null value looks like "NN/NN/NNNN" (with
    ``sep``); None otherwise, or when there is no value."""
    if not len(values):
        return None
    return _native.dm_facts(column_buffers(values), ord(sep))


def to_date32(values: pa.Array, sep: str, day_first: bool) -> pa.Array | None:
    """date32 of fixed-width day/month values (nulls kept), or None if they are not all
    fixed-width real dates."""
    days = np.empty(len(values), dtype=np.int32)
    if len(values) and not _native.dm_days(column_buffers(values), ord(sep), day_first, days):
        return None
    return with_nulls_of(values, days, pa.date32())
