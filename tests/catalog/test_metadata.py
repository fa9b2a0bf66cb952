"""Dataset metadata and full-text search, on SQLite (FTS5) and PostgreSQL (tsvector).

The `catalog` fixture (conftest.py) runs every test here once per backend.
"""

from __future__ import annotations

import pytest

from core.catalog import Catalog, Status, new_dataset_id


def version(
    catalog: Catalog, name: str, columns: list[str] | None = None, *, ready: bool = True
) -> str:
    ds_id = new_dataset_id()
    catalog.add(
        dataset_id=ds_id,
        filename=f"{name}.csv",
        raw_key=f"{ds_id}/source.csv",
        sha256="0" * 64,
        size_bytes=3,
        name=name,
    )
    if ready:
        assert catalog.mark_processing(ds_id)
        assert catalog.mark_ready(ds_id, rows_in=1, rows_out=1, rows_rejected=0, columns=columns)
    return ds_id


def found(catalog: Catalog, q: str, **filters: object) -> list[str]:
    families, total = catalog.families(q=q, **filters)  # type: ignore[arg-type]
    assert total == len(families)
    return [f.name for f in families]


def test_metadata_round_trip_and_merge(catalog: Catalog) -> None:
    version(catalog, "sales", ["id", "amount"])
    assert catalog.metadata("sales") is not None
    assert catalog.metadata("sales").title is None  # type: ignore[union-attr]
    assert catalog.metadata("nope") is None
    assert catalog.set_metadata("nope", {"title": "x"}) is None
    meta = catalog.set_metadata(
        "sales",
        {
            "title": "Monthly sales",
            "description": "Sales per shop and month.",
            "tags": ["retail", "monthly"],
            "licence": "CC-BY-4.0",
            "source": "https://example.org/sales",
            "columns": {"id": "Row id", "amount": "In euros"},
        },
    )
    assert meta is not None
    assert meta.title == "Monthly sales" and meta.tags == ("retail", "monthly")
    assert meta.columns == {"id": "Row id", "amount": "In euros"}
    assert meta.updated_at is not None
    # Only the given fields change; None clears one, and a column's description.
    after = catalog.set_metadata("sales", {"title": None, "columns": {"id": None, "x": "new"}})
    assert after is not None and after.title is None
    assert after.description == "Sales per shop and month." and after.licence == "CC-BY-4.0"
    assert after.columns == {"amount": "In euros", "x": "new"}
    assert catalog.metadata("sales") == after
    cleared = catalog.set_metadata("sales", {"columns": None, "tags": None})
    assert cleared is not None and cleared.columns == {} and cleared.tags == ()


def test_metadata_is_kept_across_versions_and_shown_in_the_list(catalog: Catalog) -> None:
    version(catalog, "sales", ["id"])
    catalog.set_metadata("sales", {"title": "Sales", "tags": ["retail"]})
    v2 = version(catalog, "sales", ["id", "amount"])
    assert catalog.metadata("sales").title == "Sales"  # type: ignore[union-attr]
    families, _ = catalog.families()
    assert [(f.name, f.metadata.title, f.metadata.tags) for f in families] == [
        ("sales", "Sales", ("retail",))
    ]
    got = catalog.get(v2)
    assert got is not None and got.columns == ("id", "amount")


def test_delete_of_the_last_version_drops_metadata_and_search_row(catalog: Catalog) -> None:
    only = version(catalog, "gone", ["gonecolumn"])
    catalog.set_metadata("gone", {"title": "Vanishing"})
    assert found(catalog, "vanishing") == ["gone"]
    assert catalog.delete(only)
    assert found(catalog, "vanishing") == [] and found(catalog, "gonecolumn") == []
    version(catalog, "gone", ["other"], ready=False)
    assert catalog.metadata("gone") is not None
    assert catalog.metadata("gone").title is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("weather", ["weather_daily"]),  # a word of the name
        ("Temperatures", ["weather_daily"]),  # the title, any case
        ("celsius", ["weather_daily"]),  # the description
        ("climate", ["weather_daily"]),  # a tag
        ("precipitation_mm", ["weather_daily"]),  # a column name
        ("rainfall", ["weather_daily"]),  # a column's description
        ("Straße", ["streets"]),
        ("STRASSE", ["streets"]),  # ß folds to ss
        ("Größe", ["streets"]),
        ("grosse", ["streets"]),  # accents and case folded
        ("temp", ["weather_daily"]),  # a word prefix
        ("wea tem", ["weather_daily"]),  # every word, each a prefix
        ("weather celsius", ["weather_daily"]),
        ("weather straße", []),  # all words are needed
        ("nothinglikethis", []),
    ],
)
def test_search_by_each_field(catalog: Catalog, q: str, expected: list[str]) -> None:
    version(catalog, "weather_daily", ["station", "precipitation_mm"])
    catalog.set_metadata(
        "weather_daily",
        {
            "title": "Daily temperatures",
            "description": "Measured in Celsius at noon.",
            "tags": ["climate", "open-data"],
            "columns": {"precipitation_mm": "Rainfall in millimetres"},
        },
    )
    version(catalog, "streets", ["Straßenname", "Größe"])
    catalog.set_metadata("streets", {"title": "Straße und Größe"})
    assert found(catalog, q) == expected


def test_the_latest_ready_versions_columns_are_searched(catalog: Catalog) -> None:
    version(catalog, "shops", ["oldcolumn"])
    assert found(catalog, "oldcolumn") == ["shops"]
    version(catalog, "shops", ["newcolumn"])
    assert found(catalog, "newcolumn") == ["shops"]
    assert found(catalog, "oldcolumn") == []
    # A version still queued does not change what is searched.
    version(catalog, "shops", ["pendingcolumn"], ready=False)
    assert found(catalog, "pendingcolumn") == [] and found(catalog, "newcolumn") == ["shops"]


def test_a_name_is_searchable_before_anything_is_ready(catalog: Catalog) -> None:
    version(catalog, "fresh_upload", ready=False)
    assert found(catalog, "fresh") == ["fresh_upload"]


def test_search_composes_with_prefix_status_and_paging(catalog: Catalog) -> None:
    for name in ("tax_2023", "tax_2024", "other_tax"):
        version(catalog, name, ["amount"])
    version(catalog, "tax_queued", ["amount"], ready=False)
    assert sorted(found(catalog, "tax")) == ["other_tax", "tax_2023", "tax_2024", "tax_queued"]
    assert sorted(found(catalog, "tax", prefix="tax_")) == ["tax_2023", "tax_2024", "tax_queued"]
    assert found(catalog, "tax", status=Status.queued) == ["tax_queued"]
    page, total = catalog.families(q="tax", offset=1, limit=2)
    assert total == 4 and len(page) == 2


def test_relevance_first_then_recency(catalog: Catalog) -> None:
    version(catalog, "budget", ["x"])
    catalog.set_metadata("budget", {"description": "a long text that mentions rivers once"})
    version(catalog, "rivers", ["x"])
    version(catalog, "unrelated", ["x"])
    # The name outweighs the description whatever the order of upload.
    assert found(catalog, "rivers") == ["rivers", "budget"]


@pytest.mark.parametrize(
    "q", ['"', "*", "NEAR(", "OR OR", "AND", "-", "a:b", "!&|", "'", "x" * 10_000, "()"]
)
def test_hostile_queries_never_fail(catalog: Catalog, q: str) -> None:
    version(catalog, "near_or_and", ["x"])
    families, total = catalog.families(q=q)
    assert total == len(families)
    if q in ("NEAR(", "OR OR", "AND"):
        # Operator words are words like any other: here, words of the name.
        assert [f.name for f in families] == ["near_or_and"]
