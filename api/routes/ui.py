"""The browser UI: server-rendered pages (Jinja2).

Every dataset page is about one version, resolved like the API's URLs (api/versions.py):
`/ui/datasets/{name}` shows the version the stable URL serves, `/ui/datasets/{version id}`
that version, `?version=N` version N. Its scripts then only call that version's own
(immutable) URLs, `/datasets/{version id}/...`, so every card, tab, chart and download on
the page describes the same version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from core import keys
from core.catalog import Dataset, Metadata, Status
from core.catalog.search import MAX_QUERY_CHARS, MAX_QUERY_WORDS, query_words
from core.settings import Settings
from core.storage import ObjectNotFound, ObjectStore

from ..answers import identity_headers
from ..container import Container
from ..deps import CatalogDep, ContainerDep, VersionQuery
from ..errors import NotFound
from ..query.source import open_source
from ..serving import column_type
from ..sessions import session_context
from ..versions import Served, family, version_of

LIST_PAGE_SIZE = 50
# Columns a dataset page shows at once (rows table, filters, charts' list, the report's
# column table): its HTML, the rows it fetches and the table the browser lays out stay
# this wide whatever the file. MINI_MAX_COLUMNS allows 2,000; the page moves across them.
COLUMN_WINDOW = 50
# Entries of each kind a schema diff lists; the others are counted (all: the JSON).
DIFF_ITEMS_SHOWN = 50
# The report's raw JSON is printed in the page up to this size; past it, only a link.
RAW_REPORT_BYTES = 64 * 1024
# A report bigger than this is not read for a page, only linked: its size follows the
# width and the length of the values it quotes (extremes, top values), which the file sets.
REPORT_PAGE_BYTES = 16 * 1024 * 1024
# The rejects tab's fallback (the report's sample) is all the page script needs of it.
REPORT_SAMPLE_ROWS = 20
# The page asks for its columns by name (`?columns=`): a window of long names (survey
# questions as headers) is cut shorter so the URL stays far below MINI_MAX_URL_BYTES.
PROJECTION_BYTES = 6 * 1024
# Query parameters of the dataset page that the column controls replace or drop.
WINDOW_PARAMS = ("col_offset", "column", "fragment")
NAME_SUGGESTIONS = 20
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
POLICY_HELP = {
    "pin": "each column keeps its type (safe widening allowed); values that do not fit "
    "are rejected; new columns are added; a missing column fails the version",
    "reject": "any schema change fails the new version; the previous one stays served",
    "allow": "the new schema is served as it is; the change is only recorded",
}


def _filesize(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _seconds_between(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _day(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _unnamed(name: str | None) -> bool:
    """An upload without a name is a dataset named by its first version's id."""
    return name is None or keys.is_dataset_id(name)


def _diff_list(diff: Mapping[str, Any], key: str) -> list[Any]:
    value = diff.get(key)
    return value if isinstance(value, list) else []


def _diff_items(diff: Any, *keys: str) -> list[Any]:
    """The entries a schema diff lists under `keys`, whatever is missing or malformed."""
    if not isinstance(diff, Mapping):
        return []
    return [item for key in keys for item in _diff_list(diff, key)]


def _schema_changed(diff: Any) -> bool:
    """A version's schema_diff says its schema differs from the one served before it.

    The diff is optional and built by the processor, so any key may be missing: without
    `changed`, any listed change counts."""
    if not isinstance(diff, Mapping):
        return False
    changed = diff.get("changed")
    if isinstance(changed, bool):
        return changed
    return any(_diff_list(diff, k) for k in ("added", "removed", "type_changed", "nullability"))


def _diff_summary(diff: Any) -> str:
    """ "1 column added, 1 removed, 1 retyped" for the page's one-line note; a pinned
    column whose served type did not change is "kept as float", not "retyped"."""
    if not isinstance(diff, Mapping):
        return ""
    changes = _diff_list(diff, "type_changed")
    kept = [
        c
        for c in changes
        if isinstance(c, Mapping) and c.get("served") and c.get("served") == c.get("from")
    ]
    counts = {
        "added": len(_diff_list(diff, "added")),
        "removed": len(_diff_list(diff, "removed")),
        "retyped": len(changes) - len(kept),
        "kept": len(kept),
        "with other nullability": len(_diff_list(diff, "nullability")),
    }
    parts: list[str] = []
    for word, count in counts.items():
        if not count:
            continue
        noun = "" if parts else (" column" if count == 1 else " columns")
        if word == "kept":
            word = "kept its served type" if count == 1 else "kept their served types"
            rejected = diff.get("rejected")
            total = (
                sum(v for v in rejected.values() if isinstance(v, int))
                if isinstance(rejected, Mapping)
                else 0
            )
            if total:
                word += f" ({total} value{'' if total == 1 else 's'} rejected)"
        parts.append(f"{count}{noun} {word}")
    return ", ".join(parts).capitalize() if parts else "The schema changed"


def _nullable(value: Any) -> str:
    if value is True:
        return "nullable"
    if value is False:
        return "never null"
    return "—" if value is None else str(value)


def _policy_help(value: Any) -> str:
    return POLICY_HELP.get(str(value), "")


def _delimiter(value: str | None) -> str:
    names = {"\t": "tab", " ": "space", ",": ", (comma)", ";": "; (semicolon)", "|": "| (pipe)"}
    return "—" if value is None else names.get(value, value)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("api", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        filesize=_filesize,
        number=_number,
        when=_when,
        day=_day,
        delimiter=_delimiter,
        tojson_pretty=_pretty,
        unnamed=_unnamed,
        schema_changed=_schema_changed,
        diff_items=_diff_items,
        diff_summary=_diff_summary,
        nullable=_nullable,
        policy_help=_policy_help,
        diff_hidden=_diff_hidden,
    )
    env.globals["seconds_between"] = _seconds_between
    env.globals["diff_limit"] = DIFF_ITEMS_SHOWN
    return env


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def _diff_hidden(diff: Any, limit: int) -> int:
    """How many entries of a schema diff the page leaves out (it lists `limit` per kind)."""
    kinds = ("added", "removed", "type_changed", "nullability")
    return sum(max(0, len(_diff_items(diff, kind)) - limit) for kind in kinds)


# Every page gets the sign-out form's CSRF token when opened with a session.
templates = Jinja2Templates(env=_environment(), context_processors=[session_context])
router = APIRouter(include_in_schema=False)


def _load_report(
    store: ObjectStore, settings: Settings, dataset: Dataset
) -> tuple[dict[str, Any] | None, int | None]:
    """The version's report, or None and its size when it is too big to read for a page."""
    if not dataset.is_final:
        return None, None
    bucket, key = settings.storage.processed_bucket, keys.report_key(dataset.id)
    try:
        size = store.stat(bucket, key).size
        if size > REPORT_PAGE_BYTES:
            return None, size
        with store.open(bucket, key) as fh:
            report: dict[str, Any] = json.loads(fh.read())
            return report, None
    except ObjectNotFound:
        return None, None


def _stored_columns(container: Container, dataset: Dataset) -> list[tuple[str, str]] | None:
    """(name, type) of a ready version's columns, from its Parquet footer (cached by the
    read side); None when the version has no data to read."""
    if dataset.status is not Status.ready:
        return None
    store, bucket = container.store, container.settings.storage.processed_bucket
    key = keys.data_key(dataset.id)
    try:
        with open_source(
            container.query_caches,
            dataset.id,
            bucket,
            key,
            lambda: store.open_seekable(bucket, key),
        ) as source:
            return [(f.name, column_type(f.type)) for f in source.schema]
    except ObjectNotFound:
        return None


def _report_columns(report: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    columns = report.get("columns") if report is not None else None
    if not isinstance(columns, list):
        return []
    return [
        (str(c.get("name")), str(c.get("type") or "string"))
        for c in columns
        if isinstance(c, Mapping) and c.get("name") is not None
    ]


@dataclass(frozen=True)
class ColumnWindow:
    """The columns the dataset page shows: up to COLUMN_WINDOW of them from `offset`, and
    the links that move across the others. The links keep every other parameter of the page
    (version, filters, sort, row paging)."""

    shown: list[tuple[str, str]]
    offset: int
    total: int
    # Types of the columns the URL filters or sorts on that are not shown: the page's
    # script builds their filters by type.
    others: dict[str, str] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    kept: list[tuple[str, str]] = field(default_factory=list)  # for the "go to" form
    not_found: str | None = None

    @property
    def size(self) -> int:
        return COLUMN_WINDOW

    @property
    def paged(self) -> bool:
        return self.total > COLUMN_WINDOW

    @property
    def first(self) -> int:
        return self.offset + 1 if self.shown else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.shown)

    def data(self) -> dict[str, Any]:
        """What the page's script needs, as JSON."""
        return {
            "paged": self.paged,
            "offset": self.offset,
            "size": COLUMN_WINDOW,
            "total": self.total,
            "columns": [{"name": n, "type": t} for n, t in self.shown],
            "types": self.others,
        }


def _find_column(names: list[str], wanted: str) -> int | None:
    """The column `wanted` names: exactly, else ignoring case, else the first that
    contains it."""
    if wanted in names:
        return names.index(wanted)
    folded = wanted.casefold()
    lowered = [n.casefold() for n in names]
    if folded in lowered:
        return lowered.index(folded)
    return next((i for i, n in enumerate(lowered) if folded in n), None)


def _named_in_query(params: list[tuple[str, str]]) -> set[str]:
    """Columns the page's URL filters (`filter.col=`) or sorts (`sort=col,-col2`) on."""
    named = {k.removeprefix("filter.") for k, _ in params if k.startswith("filter.")}
    for key, value in params:
        if key == "sort":
            named.update(p.strip().lstrip("+-").strip() for p in value.split(","))
    return named


def _encoded_size(name: str) -> int:
    return len(quote(name, safe="")) + 3  # and its comma, sent as %2C


def _window_end(names: list[str], start: int) -> int:
    """Where the window that starts at `start` ends: COLUMN_WINDOW columns, fewer when
    their names would make `?columns=` longer than PROJECTION_BYTES (at least one)."""
    end, used = start, 0
    while end < len(names) and end - start < COLUMN_WINDOW:
        used += _encoded_size(names[end])
        if used > PROJECTION_BYTES and end > start:
            break
        end += 1
    return end


def _window_start(names: list[str], stop: int) -> int:
    """Where the window that ends just before `stop` starts (the same bounds)."""
    start, used = stop, 0
    while start > 0 and stop - start < COLUMN_WINDOW:
        used += _encoded_size(names[start - 1])
        if used > PROJECTION_BYTES and start < stop:
            break
        start -= 1
    return start


def _column_window(
    request: Request,
    columns: list[tuple[str, str]],
    col_offset: int,
    column: str | None,
) -> ColumnWindow:
    total = len(columns)
    names = [n for n, _ in columns]
    not_found = None
    if column:
        found = _find_column(names, column)
        if found is None:
            not_found = column
        else:
            col_offset = found // COLUMN_WINDOW * COLUMN_WINDOW
            if _window_end(names, col_offset) <= found:
                col_offset = found
    last_start = _window_start(names, total)
    col_offset = min(col_offset, last_start)
    end = _window_end(names, col_offset)
    shown = columns[col_offset:end]
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in WINDOW_PARAMS]
    in_view = {n for n, _ in shown}
    types = dict(columns)
    others = {
        n: types[n] for n in sorted(_named_in_query(params)) if n in types and n not in in_view
    }

    def link(offset: int | None) -> str | None:
        if offset is None:
            return None
        query = urlencode([*params, *([("col_offset", str(offset))] if offset else [])])
        return f"{request.url.path}?{query}" if query else request.url.path

    at_start, at_end = col_offset == 0, end >= total
    links = {
        "first": link(None if at_start else 0),
        "prev": link(None if at_start else _window_start(names, col_offset)),
        "next": link(None if at_end else end),
        "last": link(None if at_end else last_start),
    }
    return ColumnWindow(shown, col_offset, total, others, links, params, not_found)


def _bounded_report(report: Mapping[str, Any] | None, window: ColumnWindow) -> dict[str, Any]:
    """What of the report the page renders: the shown columns' entries, its raw JSON if
    small enough, and the sample of rejected rows the rejects tab falls back to."""
    if report is None:
        return {"columns": [], "raw": None, "size": 0, "script": {}}
    # Sized compact first: printing a 2,000-column report indented took 90 ms.
    size = len(json.dumps(report, ensure_ascii=False).encode())
    entries = report.get("columns")
    wanted = {n for n, _ in window.shown}
    columns = (
        [c for c in entries if isinstance(c, Mapping) and c.get("name") in wanted]
        if isinstance(entries, list)
        else []
    )
    sample = report.get("malformed_rows")
    script = {
        "malformed_rows": sample[:REPORT_SAMPLE_ROWS] if isinstance(sample, list) else [],
        "rows_rejected": report.get("rows_rejected"),
        "rows_malformed": report.get("rows_malformed"),
    }
    return {
        "columns": columns,
        "raw": _pretty(report) if size <= RAW_REPORT_BYTES else None,
        "size": size,
        "script": script,
    }


def _running(items: list[Dataset]) -> int:
    return sum(1 for d in items if not d.is_final)


def _stable(members: list[Dataset]) -> Dataset:
    """The version the dataset's own URL serves: the newest ready one, else the newest."""
    ready = [m for m in members if m.status is Status.ready]
    return ready[-1] if ready else members[-1]


def _name_url(name: str) -> str:
    return f"/ui/datasets/{quote(name, safe='')}"


@router.get("/ui")
async def ui_home() -> RedirectResponse:
    return RedirectResponse("/ui/datasets", status_code=307)


@router.get("/ui/datasets", response_class=HTMLResponse)
async def datasets_page(
    request: Request,
    catalog: CatalogDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = LIST_PAGE_SIZE,
    prefix: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[str | None, Query(pattern="^(queued|processing|ready|failed)?$")] = None,
    fragment: Annotated[str | None, Query(pattern="^rows$")] = None,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
) -> Response:
    """The dataset list, one row per name; `?fragment=rows` is just its table body, for the
    page's auto-refresh. `?prefix=` and `?status=` (the newest version's) filter it, `?q=`
    searches it (README: Metadata and search)."""
    wanted = Status(status) if status else None
    q = q.strip() if q else None
    search_error = _search_problem(q)
    families, total = (
        ([], 0)
        if search_error
        else await anyio.to_thread.run_sync(
            lambda: catalog.families(
                prefix=prefix or None, status=wanted, offset=offset, limit=limit, q=q
            )
        )
    )
    items = [f.latest for f in families]
    filters = {k: v for k, v in (("q", q), ("prefix", prefix), ("status", status)) if v}
    context = {
        "families": families,
        "items": items,
        "total": total,
        "offset": offset,
        "limit": limit,
        "prefix": prefix or "",
        "q": q or "",
        "search_error": search_error,
        "status": status or "",
        "statuses": [s.value for s in Status],
        "filters": filters,
        "running": _running(items),
        "active": "datasets",
    }
    name = "_dataset_rows.html" if fragment else "datasets.html"
    return templates.TemplateResponse(request, name, context, headers={"Cache-Control": "no-store"})


def _search_problem(q: str | None) -> str | None:
    """Why the list cannot search for `q` (shown above the empty list), if it cannot."""
    if not q:
        return None
    found = query_words(q)
    if not found:
        return "Search for words: letters or digits."
    if len(found) > MAX_QUERY_WORDS:
        return f"Search for at most {MAX_QUERY_WORDS} words."
    return None


@router.get("/ui/names")
async def dataset_names(
    catalog: CatalogDep,
    prefix: Annotated[str, Query(max_length=255)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = NAME_SUGGESTIONS,
) -> dict[str, Any]:
    """Existing dataset names starting with `prefix`, for the upload page's name field.

    Unnamed uploads (named by their id) are left out. `match` is the dataset named exactly
    `prefix`, if any: its number of versions, the version number an upload under that
    name would get, and its schema policy."""

    def lookup() -> dict[str, Any]:
        # Ask for a few more than shown: unnamed datasets' ids are dropped.
        found = [n for n in catalog.names(prefix, limit * 2) if not _unnamed(n)][:limit]
        match = None
        if prefix and not _unnamed(prefix):
            members = catalog.versions(prefix)
            if members:
                match = {
                    "name": prefix,
                    "versions": len(members),
                    "next_version": version_of(members[-1]) + 1,
                    "on_schema_change": catalog.policy(prefix).value,
                }
        return {"names": found, "match": match}

    return await anyio.to_thread.run_sync(lookup)


@router.get("/ui/datasets/{dataset_id}", response_class=HTMLResponse)
async def dataset_page(
    request: Request,
    dataset_id: str,
    container: ContainerDep,
    version: VersionQuery = None,
    fragment: Annotated[str | None, Query(pattern="^(report|versions)$")] = None,
    col_offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    column: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """One version of a dataset: the version switcher, summary, rows table, column charts,
    report, rejects and logs, all of that version.

    The rows table and the report's column table show COLUMN_WINDOW columns from
    `?col_offset=`; `?column=` moves to the window holding that column.
    `?fragment=report` is the rendered report alone, which the upload page shows;
    `?fragment=versions` the version switcher alone, which the page refreshes while a
    version runs.
    """
    try:
        served = await anyio.to_thread.run_sync(
            lambda: container.resolver.resolve(dataset_id, version)
        )
    except NotFound as exc:
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"dataset_id": dataset_id, "message": str(exc), "active": "datasets"},
            status_code=404,
        )
    store, settings = container.store, container.settings
    dataset = served.dataset
    report, too_big = (
        await anyio.to_thread.run_sync(lambda: _load_report(store, settings, dataset))
        if fragment != "versions"
        else (None, None)
    )
    members = await anyio.to_thread.run_sync(lambda: family(container.catalog, dataset))
    metadata = await anyio.to_thread.run_sync(lambda: container.catalog.metadata(served.name))
    context = {
        **_page_context(served, members),
        "metadata": metadata or Metadata(),
        "edit_url": f"{_name_url(served.name)}/edit",
        "report": report,
        "report_too_big": too_big,
        "active": "datasets",
    }
    if fragment != "versions":
        stored = await anyio.to_thread.run_sync(lambda: _stored_columns(container, dataset))
        columns = stored if stored is not None else _report_columns(report)
        window = _column_window(request, columns, col_offset, column)
        context.update(window=window, shown_report=_bounded_report(report, window))
    name = {"report": "_report.html", "versions": "_versions.html"}.get(fragment or "")
    return templates.TemplateResponse(
        request,
        name or "dataset.html",
        context,
        headers={"Cache-Control": "no-store", **identity_headers(served)},
    )


def _page_context(served: Served, members: list[Dataset]) -> dict[str, Any]:
    members = members or [served.dataset]
    return {
        "served": served,
        "dataset": served.dataset,
        "versions": members,
        "stable": _stable(members),
        "running_versions": _running(members),
        "title": served.dataset.filename if _unnamed(served.name) else served.name,
        "name_url": _name_url(served.name),
    }
