"""API keys: with MINI_API_KEYS set, every request except the health probes needs one.

A pure ASGI middleware rather than a dependency or BaseHTTPMiddleware: it
answers before anything reads the request body, so an unauthenticated upload
is never streamed anywhere; it passes an authorised request's body through
untouched, so uploads still stream; and it also covers what route dependencies
do not reach (/docs, /openapi.json, /static).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from core.catalog import CatalogError
from core.settings import Settings

from .errors import error_response
from .sessions import SCOPE_KEY, SESSION_COOKIE, Sessions

# Kubernetes probes call these without credentials; a browser needs the login
# page and its stylesheet before it has a key.
# /metrics: counts and timings by route template only, never a dataset's name or data;
# Prometheus scrapes it without a key.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/login", "/logout", "/favicon.ico"})
OPEN_PREFIXES = ("/static/",)
# Browsers cannot add an Authorization header to a page load, so the login page
# sets a signed, expiring session cookie (api/sessions.py; never the key itself),
# HttpOnly and SameSite=Strict: never sent cross-site, which keeps cookie-authenticated
# uploads safe from CSRF; a cross-origin Origin on a state-changing request is refused too.
COOKIE = SESSION_COOKIE
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = "mini-pipeline"
# RFC 6455: "policy violation".
WS_POLICY_VIOLATION = 1008


def parse_api_keys(secret: SecretStr | None) -> list[str]:
    """The configured keys; none means keys are off. Set but empty is a mistake, not "off"."""
    if secret is None:
        return []
    keys = [k.strip() for k in secret.get_secret_value().split(",")]
    keys = [k for k in keys if k]
    if not keys:
        raise ValueError("MINI_API_KEYS is set but holds no keys; unset it to turn API keys off")
    return keys


def _digest(value: bytes) -> bytes:
    # Equal-length inputs, so compare_digest leaks not even a key's length.
    return hashlib.sha256(value).digest()


class KeyRing:
    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [_digest(k.encode()) for k in keys]

    def accepts(self, token: bytes) -> bool:
        presented = _digest(token)
        accepted = False
        # Every key is compared, match or not: the time taken says nothing about which.
        for digest in self._digests:
            accepted |= hmac.compare_digest(presented, digest)
        return accepted


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value)
    return None


def _cookie(scope: Scope, wanted: str) -> bytes | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name.decode("latin-1") == wanted and value:
            return value
    return None


def _wants_html(scope: Scope) -> bool:
    accept = _header(scope, b"accept") or b""
    return scope.get("method") == "GET" and b"text/html" in accept


def _same_origin(scope: Scope) -> bool:
    """No Origin header (not a browser's cross-site request), or the request's own host."""
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    host = _header(scope, b"host") or b""
    return origin.split(b"://", 1)[-1] == host


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: Sequence[str], sessions: Sessions) -> None:
        self.app = app
        self.ring = KeyRing(keys)
        self.sessions = sessions

    def problem(self, scope: Scope) -> tuple[str, str] | None:
        """None when the request carries a valid key, else (message, challenge)."""
        header = _header(scope, b"authorization")
        if header is None:
            cookie = _cookie(scope, COOKIE)
            sid = self.sessions.verify(cookie.decode("latin-1")) if cookie else None
            if sid is not None:
                if scope.get("method") not in SAFE_METHODS and not _same_origin(scope):
                    return "a cross-site request cannot use the browser session", ""
                scope.setdefault("state", {})[SCOPE_KEY] = sid
                return None
            if cookie is not None:
                return "the session has expired or was signed out; sign in again", ""
            return "an API key is required: send 'Authorization: Bearer <key>'", ""
        scheme, _, token = header.strip().partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            return "the Authorization header must be 'Bearer <key>'", ', error="invalid_request"'
        if not self.ring.accepts(token):
            return "the API key is not valid", ', error="invalid_token"'
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] not in ("http", "websocket")
            or path in OPEN_PATHS
            or path.startswith(OPEN_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope)
        sid = scope.get("state", {}).get(SCOPE_KEY)
        if problem is None and isinstance(sid, str):
            try:
                if await self.sessions.revoked_elsewhere(sid):
                    problem = ("the session has expired or was signed out; sign in again", "")
            except CatalogError:
                # Fail closed: a revocation we cannot check may be one.
                await error_response(
                    503,
                    "service_unavailable",
                    "the catalog database is unavailable; retry later",
                    headers={"Retry-After": "5"},
                )(scope, receive, send)
                return
        if problem is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
            return
        if _wants_html(scope):
            # A person in a browser: send them to the login page, then back here.
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            await RedirectResponse(f"/login?{urlencode({'next': target})}", 303)(
                scope, receive, send
            )
            return
        message, error = problem
        response = error_response(
            401,
            "unauthorized",
            message,
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"{error}'},
        )
        await response(scope, receive, send)


def install_api_keys(app: FastAPI, settings: Settings) -> None:
    """Require a key on every request when MINI_API_KEYS is set; a no-op otherwise."""
    keys = parse_api_keys(settings.api_keys)
    app.state.key_ring = KeyRing(keys) if keys else None
    app.state.sessions = Sessions(keys, settings.session_hours * 3600) if keys else None
    if keys:
        app.add_middleware(ApiKeyMiddleware, keys=keys, sessions=app.state.sessions)
