"""Full-text search over datasets (README: Metadata and search).

One search row per dataset name, rebuilt by the catalog whenever what it indexes
changes (a new name, a version becoming ready, an edit of the metadata, a delete). The
index is derived data, not part of the model: on SQLite an FTS5 virtual table, on
PostgreSQL a table of `tsvector`s with a GIN index, both named `dataset_search`, made by
migration 0007 and left out of the model comparison (`include_name`).

Both sides of a match are folded here, in Python, the same way for both backends:
Unicode compatibility form, accents removed, case folded ("Größe" -> "grosse", which
"GROSSE", "größe" and "Grösse" find too), cut into words of letters and digits.
User text therefore never reaches FTS5's or `to_tsquery`'s syntax: a query is only
words, each matched as a word prefix, all of them required.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

SEARCH_TABLE = "dataset_search"
# A query of more words, or more characters, than this is refused (422), not run.
MAX_QUERY_WORDS = 16
MAX_QUERY_CHARS = 500
# Longer words are cut: no real word is longer, and tsvector refuses lexemes past 2 KB.
MAX_WORD_CHARS = 100
# Each indexed field is cut to this many characters: a tsvector holds at most 1 MB, and
# 2,000 long column names with descriptions would pass it.
MAX_FIELD_CHARS = 200_000

_WORD = re.compile(r"[^\W_]+")

# FTS5 column order, and bm25 weights in that order: `dataset` (the name as it is, the
# row's key) is not indexed; a word in
# the name or the title counts most, in the description least.
FTS_COLUMNS = ("dataset", "name", "title", "tags", "description", "columns")
FTS_WEIGHTS = (0.0, 10.0, 8.0, 5.0, 1.0, 3.0)
# The same ranks on PostgreSQL: setweight's A (highest) to D.
PG_WEIGHTS = {"name": "A", "title": "A", "tags": "B", "columns": "C", "description": "D"}


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def words(text: str) -> list[str]:
    """The searchable words of `text`, folded (see the module's docstring)."""
    return [w[:MAX_WORD_CHARS] for w in _WORD.findall(fold(text))]


def query_words(q: str) -> list[str]:
    """The distinct words of a query, in order."""
    return list(dict.fromkeys(words(q)))


@dataclass(frozen=True)
class Document:
    """What is indexed of one dataset, field by field, as folded words."""

    key: str
    name: str
    title: str
    tags: str
    description: str
    columns: str

    def fields(self) -> dict[str, str]:
        return {
            "dataset": self.key,
            "name": self.name,
            "title": self.title,
            "tags": self.tags,
            "description": self.description,
            "columns": self.columns,
        }


def _joined(texts: Iterable[str | None]) -> str:
    return " ".join(words(" ".join(t for t in texts if t)))[:MAX_FIELD_CHARS]


def document(
    name: str,
    *,
    title: str | None,
    description: str | None,
    tags: Sequence[str],
    column_names: Sequence[str],
    column_descriptions: Mapping[str, str],
) -> Document:
    """The search row of a dataset: its name, metadata, and the column names of its
    latest ready version with their descriptions."""
    described = [f"{c} {d}" for c, d in column_descriptions.items()]
    return Document(
        key=name,
        name=_joined([name]),
        title=_joined([title]),
        tags=_joined(tags),
        description=_joined([description]),
        columns=_joined([*column_names, *described]),
    )


def fts5_match(terms: Sequence[str]) -> str:
    # Each word quoted (FTS5 syntax never sees user text) and matched as a prefix.
    return " AND ".join(f'"{t}"*' for t in terms)


def tsquery(terms: Sequence[str]) -> str:
    # Terms are letters and digits only, so no tsquery operator can appear in them.
    return " & ".join(f"{t}:*" for t in terms)


def include_name(name: str | None, type_: Any, parent_names: MutableMapping[Any, Any]) -> bool:
    """For Alembic's comparison of the database with the model: the search index (and
    FTS5's shadow tables) is not part of the model."""
    return not (type_ == "table" and name is not None and name.startswith(SEARCH_TABLE))
