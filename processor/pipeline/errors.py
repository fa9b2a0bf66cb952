"""The one exception type that means "the uploaded file cannot be processed"."""

from __future__ import annotations

from typing import Any


class BadInput(Exception):
    """Unusable user input. ``str(exc)`` is a single line meant for a person.

    Anything else raised by :func:`process_csv` is a bug in the processor, not a
    problem with the file, so callers can map this class alone to a 4xx-style status.
    """

    # Set when the file failed after its columns were compared with the version served
    # before it: the comparison (report.json's ``schema_change``), for the manifest.
    schema_change: dict[str, Any] | None = None

    def __init__(self, message: str) -> None:
        # The message is shown verbatim in the UI; a multi-line one would break that.
        super().__init__(" ".join(message.split()))


# Why a row went to rejects.csv (its "reason" column).
WRONG_FIELDS = "wrong number of fields"
UNTERMINATED = "unterminated quote"
# A quoted value that holds whole lines reading as records of the table.
SUSPECTED_UNTERMINATED = "suspected unterminated quote"
