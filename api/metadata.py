"""What `PATCH /datasets/{ref}` accepts: a JSON merge patch of the dataset's metadata
(README: Metadata and search). A field left out keeps its value, `null` (or an empty
string) clears it; `columns` merges the same way, one column's description at a time.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from core.catalog.base import (
    MAX_COLUMN_DESCRIPTION_CHARS,
    MAX_COLUMN_DESCRIPTIONS,
    MAX_DESCRIPTION_CHARS,
    MAX_LICENCE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TITLE_CHARS,
    Metadata,
)

# The longest column name a description may be given for (processor names are shorter).
MAX_COLUMN_NAME_CHARS = 1000
# Unknown columns named in a 422, at most.
UNKNOWN_NAMED = 10
# One line: no control characters (PostgreSQL text cannot even hold NUL).
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# Text: lines, tabs, but no other control characters.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _blank_is_null(value: Any) -> Any:
    # An emptied form field means "clear", like null.
    if isinstance(value, str) and not value.strip():
        return None
    return value


Title = Annotated[
    Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=MAX_TITLE_CHARS, pattern=ONE_LINE)
    ]
    | None,
    BeforeValidator(_blank_is_null),
]
Licence = Annotated[
    Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=MAX_LICENCE_CHARS, pattern=ONE_LINE),
    ]
    | None,
    BeforeValidator(_blank_is_null),
]
Source = Annotated[
    Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=MAX_SOURCE_CHARS, pattern=ONE_LINE)
    ]
    | None,
    BeforeValidator(_blank_is_null),
]
Description = Annotated[
    Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=MAX_DESCRIPTION_CHARS, pattern=TEXT),
    ]
    | None,
    BeforeValidator(_blank_is_null),
]


Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=MAX_TAG_CHARS,
        pattern=r"^[^,\x00-\x1f\x7f]*$",
    ),
]


def _distinct(tags: list[str] | None) -> list[str] | None:
    """Tags in their first spelling, each once (compared ignoring case)."""
    if tags is None:
        return None
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values()) or None


ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_COLUMN_NAME_CHARS)]
ColumnDescription = Annotated[
    Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, max_length=MAX_COLUMN_DESCRIPTION_CHARS, pattern=TEXT
        ),
    ]
    | None,
    BeforeValidator(_blank_is_null),
]


class MetadataPatch(BaseModel):
    """Fields to change; each one left out keeps its value, null clears it."""

    model_config = ConfigDict(extra="forbid")

    title: Title = None
    description: Description = None
    tags: Annotated[
        list[Tag] | None,
        Field(max_length=MAX_TAGS, description="short labels; repeats are dropped"),
        AfterValidator(_distinct),
    ] = None
    licence: Licence = Field(default=None, description="an SPDX id (CC-BY-4.0) or free text")
    source: Source = Field(
        default=None, description="a URL or a few words on where the data comes from"
    )
    columns: Annotated[
        dict[ColumnName, ColumnDescription] | None,
        Field(
            max_length=MAX_COLUMN_DESCRIPTIONS,
            description="column name -> description; null removes one; the columns must "
            "be columns of one of the dataset's versions",
        ),
    ] = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the body gave, as the catalog takes them."""
        return self.model_dump(include=self.model_fields_set)


def described_columns(changes: dict[str, Any]) -> list[str]:
    """The columns the patch gives a description (not the ones it removes)."""
    columns = changes.get("columns") or {}
    return [c for c, d in columns.items() if d is not None]


def unknown_message(unknown: list[str], known: int) -> str:
    named = ", ".join(repr(c) for c in unknown[:UNKNOWN_NAMED])
    more = f" and {len(unknown) - UNKNOWN_NAMED} more" if len(unknown) > UNKNOWN_NAMED else ""
    if not known:
        return (
            f"columns: no version of the dataset is ready yet, so no column is known "
            f"({named}{more}); describe them once one is"
        )
    return f"columns: not columns of any version of the dataset: {named}{more}"


def metadata_body(metadata: Metadata) -> dict[str, Any]:
    return {"metadata": metadata.as_dict()}
