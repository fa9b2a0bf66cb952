"""Browser sessions for deployments with API keys: signed, expiring, revocable.

`POST /login` checks the key once and sets a session cookie that never holds the key:
`v1.<session id>.<expiry>.<HMAC-SHA256>`. The signing key is derived from the
configured API keys, so every replica that shares MINI_API_KEYS verifies the same
sessions, and rotating the keys ends every session. `POST /logout` puts the session id
on a revocation list (kept until the session would have expired anyway) in the catalog,
which every replica shares: another replica refuses the session within
REVOCATION_RECHECK_SECONDS (it asks the catalog at most that often per session).

CSRF: the sign-in form carries a random token that must equal the `mini_csrf` cookie
(double submit; the cookie is SameSite=Strict and HttpOnly); the sign-out form carries
a token bound to the session (an HMAC of its id). Both are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

SESSION_COOKIE = "mini_session"
CSRF_COOKIE = "mini_csrf"
SCOPE_KEY = "mini_session"
VERSION = "v1"
# How stale another replica's view of a sign-out may be; one catalog read per session
# per this many seconds, so a page with many requests costs one read.
REVOCATION_RECHECK_SECONDS = 2.0
# Sessions whose "not revoked" answer is remembered; beyond it the memory starts over.
MAX_REMEMBERED_SESSIONS = 10_000


class RevocationLog(Protocol):
    """Where sign-outs are shared between replicas (the catalog)."""

    def revoke_session(self, sid: str, expires_at: datetime) -> None: ...
    def session_revoked(self, sid: str) -> bool: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Sessions:
    def __init__(self, keys: Iterable[str], lifetime_seconds: float) -> None:
        material = b"\0".join(sorted(k.encode() for k in keys))
        self._secret = hashlib.sha256(b"mini-pipeline session v1\0" + material).digest()
        self.lifetime = lifetime_seconds
        self._revoked: dict[str, float] = {}
        self._checked: dict[str, float] = {}  # sid -> when the shared log said "not revoked"
        self._log: RevocationLog | None = None
        self._lock = threading.Lock()

    def share_revocations(self, log: RevocationLog) -> None:
        self._log = log

    def _mac(self, purpose: str, value: str) -> str:
        return _b64(hmac.new(self._secret, f"{purpose}:{value}".encode(), "sha256").digest())

    def issue(self, now: float | None = None) -> str:
        sid = secrets.token_urlsafe(18)
        expires = int((now or time.time()) + self.lifetime)
        body = f"{VERSION}.{sid}.{expires}"
        return f"{body}.{self._mac('session', body)}"

    def verify(self, token: str, now: float | None = None) -> str | None:
        """The session id of a valid, unexpired, unrevoked token, else None."""
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not parts[2].isdigit():
            return None
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._mac("session", body).encode(), parts[3].encode()):
            return None
        if int(parts[2]) <= (now or time.time()):
            return None
        sid = parts[1]
        with self._lock:
            if sid in self._revoked:
                return None
        return sid

    async def revoked_elsewhere(self, sid: str) -> bool:
        """Whether another replica signed this session out (asks the shared log)."""
        if self._log is None:
            return False
        moment = time.monotonic()
        with self._lock:
            checked = self._checked.get(sid)
        if checked is not None and moment - checked < REVOCATION_RECHECK_SECONDS:
            return False
        revoked = await run_in_threadpool(self._log.session_revoked, sid)
        with self._lock:
            if len(self._checked) >= MAX_REMEMBERED_SESSIONS:
                self._checked.clear()
            if revoked:
                self._checked.pop(sid, None)
                self._revoked[sid] = time.time() + self.lifetime
            else:
                self._checked[sid] = moment
        return revoked

    async def revoke(self, token: str) -> bool:
        sid = self.verify(token)
        if sid is None:
            return False
        now = time.time()
        with self._lock:
            # Forget entries whose session has expired anyway: the list stays small.
            for old in [s for s, until in self._revoked.items() if until <= now]:
                del self._revoked[old]
            self._revoked[sid] = now + self.lifetime
            self._checked.pop(sid, None)
        if self._log is not None:
            expires = datetime.fromtimestamp(int(token.split(".")[2]), UTC)
            await run_in_threadpool(self._log.revoke_session, sid, expires)
        return True

    def csrf_for(self, sid: str) -> str:
        return self._mac("csrf", sid)

    def csrf_matches(self, sid: str, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            self.csrf_for(sid).encode(), presented.encode()
        )


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def login_token_matches(cookie: str | None, presented: str | None) -> bool:
    if not cookie or not presented:
        return False
    return hmac.compare_digest(cookie.encode(), presented.encode())


def session_context(request: Request) -> dict[str, str | None]:
    """Templates: the sign-out form's token when the page was opened with a session."""
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    sid = request.scope.get("state", {}).get(SCOPE_KEY)
    if sessions is None or not isinstance(sid, str):
        return {"logout_csrf": None}
    return {"logout_csrf": sessions.csrf_for(sid)}
