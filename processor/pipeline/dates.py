"""Day/month/year dates written with a fixed width ("05/03/2023"), parsed with numpy.

Most files pad days and months to two digits. Their bytes then form an n x 10 matrix,
read without a regular expression or a string per value: 10-20x faster than the
general path in infer.py, which stays the fallback for "5/3/2023".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .strbuf import string_buffers

I32 = npt.NDArray[np.int32]
_WIDTH = 10
_DIGITS = [0, 1, 3, 4, 6, 7, 8, 9]
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


def fixed_parts(values: pa.Array, sep: str) -> tuple[I32, I32, I32] | None:
    """(first field, second field, year) of values that all look like "NN/NN/NNNN";
    None when any does not (the caller then takes the general path). No nulls."""
    n = len(values)
    offsets, data = string_buffers(values)
    if n == 0 or data.size != _WIDTH * n or np.any(np.diff(offsets) != _WIDTH):
        return None
    matrix = data.reshape(n, _WIDTH)
    mark = ord(sep)
    if not (np.all(matrix[:, 2] == mark) and np.all(matrix[:, 5] == mark)):
        return None
    digits = matrix[:, _DIGITS].astype(np.int32) - ord("0")
    if digits.min() < 0 or digits.max() > 9:
        return None
    first = digits[:, 0] * 10 + digits[:, 1]
    second = digits[:, 2] * 10 + digits[:, 3]
    year = digits[:, 4] * 1000 + digits[:, 5] * 100 + digits[:, 6] * 10 + digits[:, 7]
    return first, second, year


def real_dates(day: I32, month: I32, year: I32) -> bool:
    """Whether every (day, month, year) is a calendar date (leap years included)."""
    if np.any((month < 1) | (month > 12) | (day < 1) | (year < 1)):
        return False
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    limit = _DAYS_IN_MONTH[month] - ((month == 2) & ~leap)
    return not bool(np.any(day > limit))


def days_since_epoch(day: I32, month: I32, year: I32) -> npt.NDArray[np.int32]:
    """Proleptic Gregorian days since 1970-01-01 (H. Hinnant's days_from_civil)."""
    y = year.astype(np.int64) - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    shifted = np.where(month > 2, month - 3, month + 9).astype(np.int64)
    doy = (153 * shifted + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: npt.NDArray[np.int32] = (era * 146097 + doe - 719468).astype(np.int32)
    return days


def to_date32(values: pa.Array, sep: str, day_first: bool) -> pa.Array | None:
    """date32 of fixed-width day/month values (nulls kept), or None if they are not all
    fixed-width real dates."""
    valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    present = values.drop_null() if values.null_count else values
    parts = fixed_parts(present, sep)
    if parts is None:
        return None
    first, second, year = parts
    day, month = (first, second) if day_first else (second, first)
    if not real_dates(day, month, year):
        return None
    days = np.zeros(len(values), dtype=np.int32)
    days[valid] = days_since_epoch(day, month, year)
    return pa.array(days, type=pa.date32(), mask=~valid if values.null_count else None)
