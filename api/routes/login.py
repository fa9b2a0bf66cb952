"""Browser sign-in for deployments with API keys: the key goes into an HttpOnly cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..auth import COOKIE, KeyRing
from .ui import templates

router = APIRouter(include_in_schema=False)
COOKIE_MAX_AGE = 8 * 3600
MAX_KEY_LENGTH = 512


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an open redirect to another host.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/ui/datasets"
    return target


def _ring(request: Request) -> KeyRing | None:
    ring: KeyRing | None = getattr(request.app.state, "key_ring", None)
    return ring


@router.get("/login", response_model=None)
async def login_page(request: Request, next: str | None = None) -> Response:
    if _ring(request) is None:
        return RedirectResponse(_safe_next(next), 303)
    return templates.TemplateResponse(
        request, "login.html", {"next": _safe_next(next), "error": None, "active": None}
    )


@router.post("/login", response_model=None)
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=MAX_KEY_LENGTH)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    ring = _ring(request)
    target = _safe_next(next)
    if ring is None:
        return RedirectResponse(target, 303)
    if not ring.accepts(key.strip().encode()):
        return templates.TemplateResponse(
            request,
            "login.html",
            {"next": target, "error": "That API key is not valid.", "active": None},
            status_code=401,
        )
    response = RedirectResponse(target, 303)
    response.set_cookie(
        COOKIE,
        key.strip(),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout() -> HTMLResponse:
    response = HTMLResponse(status_code=303, headers={"Location": "/login"})
    response.delete_cookie(COOKIE, path="/")
    return response
