"""Browser sign-in for deployments with API keys: a signed, expiring session cookie
(api/sessions.py), never the key itself; both forms carry CSRF tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..auth import KeyRing
from ..errors import error_response
from ..sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Sessions,
    login_token_matches,
    new_login_token,
)
from .ui import templates

router = APIRouter(include_in_schema=False)
MAX_KEY_LENGTH = 512
MAX_TOKEN_LENGTH = 256
CSRF_MAX_AGE = 3600


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an open redirect to another host.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/ui/datasets"
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return "/ui/datasets"
    return target


def _ring(request: Request) -> KeyRing | None:
    ring: KeyRing | None = getattr(request.app.state, "key_ring", None)
    return ring


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def _secure(request: Request) -> bool:
    return bool(request.app.state.container.settings.tls) or request.url.scheme == "https"


def _login_form(
    request: Request, target: str, error: str | None = None, status_code: int = 200
) -> Response:
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        token = new_login_token()
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"next": target, "error": error, "active": None, "csrf": token},
        status_code=status_code,
    )
    response.set_cookie(
        CSRF_COOKIE,
        token,
        max_age=CSRF_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login", response_model=None)
async def login_page(request: Request, next: str | None = None) -> Response:
    if _ring(request) is None:
        return RedirectResponse(_safe_next(next), 303)
    return _login_form(request, _safe_next(next))


@router.post("/login", response_model=None)
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=MAX_KEY_LENGTH)],
    next: Annotated[str | None, Form(max_length=2048)] = None,
    csrf: Annotated[str | None, Form(max_length=MAX_TOKEN_LENGTH)] = None,
) -> Response:
    ring = _ring(request)
    target = _safe_next(next)
    if ring is None:
        return RedirectResponse(target, 303)
    if not login_token_matches(request.cookies.get(CSRF_COOKIE), csrf):
        return _login_form(
            request,
            target,
            "The sign-in form expired or did not come from this site. Please try again.",
            status_code=403,
        )
    if not ring.accepts(key.strip().encode()):
        return _login_form(request, target, "That API key is not valid.", status_code=401)
    response = RedirectResponse(target, 303)
    sessions = _sessions(request)
    response.set_cookie(
        SESSION_COOKIE,
        sessions.issue(),
        max_age=int(sessions.lifetime),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/logout", response_model=None)
async def logout(
    request: Request, csrf: Annotated[str | None, Form(max_length=MAX_TOKEN_LENGTH)] = None
) -> Response:
    response = RedirectResponse("/login", 303)
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    token = request.cookies.get(SESSION_COOKIE)
    if sessions is not None and token:
        sid = sessions.verify(token)
        if sid is not None:
            # Only this session's own page can sign it out (CSRF).
            if not sessions.csrf_matches(sid, csrf):
                return error_response(
                    403, "csrf_failed", "sign out from the site's own page (its form token)"
                )
            await sessions.revoke(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
