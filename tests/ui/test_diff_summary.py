"""The one-line schema-change note on the dataset page says what the reader sees: a
pinned column that kept its served type is not "retyped"."""

from __future__ import annotations

from api.routes.ui import _diff_summary


def test_a_pinned_column_is_kept_not_retyped() -> None:
    diff = {
        "added": [{"column": "region", "type": "string"}],
        "type_changed": [{"column": "betrag", "from": "float", "to": "string", "served": "float"}],
        "rejected": {"betrag": 1},
    }
    assert _diff_summary(diff) == "1 column added, 1 kept its served type (1 value rejected)"


def test_allowed_changes_are_retyped() -> None:
    diff = {
        "removed": [{"column": "menge", "type": "int"}],
        "type_changed": [
            {"column": "betrag", "from": "float", "to": "string", "served": "string"},
            {"column": "code", "from": "int", "to": "string"},
        ],
    }
    assert _diff_summary(diff) == "1 column removed, 2 retyped"


def test_nothing_or_garbage() -> None:
    assert _diff_summary(None) == ""
    assert _diff_summary({}) == "The schema changed"
