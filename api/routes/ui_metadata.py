"""The UI's metadata form: a plain HTML form (no script), saved like
`PATCH /datasets/{ref}` (README: Metadata and search).

With API keys on, the page is opened with a browser session; the form then carries the
session's CSRF token (api/sessions.py, the one the sign-out form carries), and a POST
without it is refused. Every field the form shows is sent, so an emptied field clears
that value; column descriptions the form does not show are kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from core.catalog import Metadata, Status

from .. import service
from ..answers import HEADER_NAME
from ..deps import ContainerDep
from ..errors import NotFound, Unprocessable, error_response
from ..metadata import MetadataPatch
from ..sessions import SCOPE_KEY, Sessions
from ..versions import Served, find_family
from .ui import templates

router = APIRouter(include_in_schema=False)

# Columns the form offers a description field for; wider datasets describe the others
# with the API (the form would be thousands of fields).
FORM_COLUMNS = 300
COLUMN_FIELD = "column:"
# The form body, at most: every field at its longest, and then some.
MAX_FORM_BYTES = 4 * 1024 * 1024


def _edit_url(name: str) -> str:
    return f"/ui/datasets/{quote(name, safe='')}/edit"


def _columns(container: Any, served: Served) -> list[str]:
    """The columns of the newest ready version, in their order."""
    members = find_family(container.catalog, served.name)
    for member in reversed([m for m in members if m.status is Status.ready]):
        if member.columns is not None:
            return list(member.columns)[:FORM_COLUMNS]
        # Ready before the catalog recorded columns (migration 0007): its report has them.
        report = service.source_report(container, member)
        entries = report.get("columns") if report is not None else None
        if isinstance(entries, list):
            names = [str(c["name"]) for c in entries if isinstance(c, dict) and "name" in c]
            return names[:FORM_COLUMNS]
    return []


def _form_page(
    request: Request,
    served: Served,
    meta: Metadata,
    columns: list[str],
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    shown = values or {
        "title": meta.title or "",
        "description": meta.description or "",
        "tags": ", ".join(meta.tags),
        "licence": meta.licence or "",
        "source": meta.source or "",
        "columns": meta.columns,
    }
    return templates.TemplateResponse(
        request,
        "metadata_edit.html",
        {
            "served": served,
            "values": shown,
            "columns": columns,
            "column_field": COLUMN_FIELD,
            "error": error,
            "action": _edit_url(served.name),
            "name_url": f"/ui/datasets/{quote(served.name, safe='')}",
            "active": "datasets",
        },
        status_code=status_code,
        # The form edits the dataset's metadata, not one version's: it names the dataset.
        headers={"Cache-Control": "no-store", HEADER_NAME: served.name},
    )


def _csrf_ok(request: Request, presented: str | None) -> bool:
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    sid = request.scope.get("state", {}).get(SCOPE_KEY)
    if sessions is None or not isinstance(sid, str):
        # No browser session: API keys are off (anyone may PATCH), or the request
        # carried a key in its Authorization header, which no other site can send.
        return True
    return sessions.csrf_matches(sid, presented)


@router.get("/ui/datasets/{dataset_id}/edit")
async def edit_metadata_page(
    request: Request, dataset_id: str, container: ContainerDep
) -> Response:
    def load() -> tuple[Served, Metadata, list[str]]:
        served, meta = service.metadata(container, dataset_id)
        return served, meta, _columns(container, served)

    try:
        served, meta, columns = await anyio.to_thread.run_sync(load)
    except NotFound as exc:
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"dataset_id": dataset_id, "message": str(exc), "active": "datasets"},
            status_code=404,
        )
    return _form_page(request, served, meta, columns)


@router.post("/ui/datasets/{dataset_id}/edit")
async def edit_metadata(request: Request, dataset_id: str, container: ContainerDep) -> Response:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_FORM_BYTES:
        return error_response(413, "payload_too_large", "the form is too large")
    form = await request.form(max_fields=FORM_COLUMNS + 20)
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    if not _csrf_ok(request, fields.get("csrf")):
        return error_response(
            403, "csrf_failed", "save the metadata from the site's own page (its form token)"
        )
    tags = [t.strip() for t in fields.get("tags", "").split(",") if t.strip()]
    body: dict[str, Any] = {
        "title": fields.get("title"),
        "description": fields.get("description"),
        "tags": tags or None,
        "licence": fields.get("licence"),
        "source": fields.get("source"),
    }
    described = {
        k.removeprefix(COLUMN_FIELD): v for k, v in fields.items() if k.startswith(COLUMN_FIELD)
    }
    if described:
        body["columns"] = described
    values = {**body, "tags": fields.get("tags", ""), "columns": described}

    def save() -> Served:
        changes = MetadataPatch.model_validate(body).changes()
        return service.update_metadata(container, dataset_id, changes)[0]

    try:
        served = await anyio.to_thread.run_sync(save)
    except (ValidationError, Unprocessable, NotFound) as exc:
        problem = exc.message if isinstance(exc, Unprocessable | NotFound) else _said(exc)

        def reload() -> tuple[Served, Metadata, list[str]]:
            served, meta = service.metadata(container, dataset_id)
            return served, meta, _columns(container, served)

        try:
            served, meta, columns = await anyio.to_thread.run_sync(reload)
        except NotFound as gone:
            return error_response(404, "not_found", gone.message)
        return _form_page(
            request, served, meta, columns, values=values, error=problem, status_code=422
        )
    return RedirectResponse(f"/ui/datasets/{quote(served.name, safe='')}#about", 303)


def _said(exc: Exception) -> str:
    assert isinstance(exc, ValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)
