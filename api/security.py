"""Security headers on every answer (a pure ASGI middleware, so streamed bodies pass).

- Every response: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
  `Referrer-Policy: same-origin`, `Cross-Origin-Opener-Policy: same-origin`.
- HTML: a strict Content-Security-Policy: scripts, styles, images and fetches from this
  site only, no inline script or style attribute, no plugins, no framing
  (`frame-ancestors 'none'`), forms post to this site only. Other answers get
  `default-src 'none'; frame-ancestors 'none'`: JSON opened in a browser runs nothing.
- A route that sets its own CSP keeps it (the Swagger page, api/routes/docs.py).
- MINI_TLS=true (TLS ends at the ingress): `Strict-Transport-Security`.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings

HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                content_type = next(
                    (v for n, v in headers if n.lower() == b"content-type"), b""
                ).lower()
                headers += [(n, v) for n, v in COMMON if n not in names]
                if b"content-security-policy" not in names:
                    csp = HTML_CSP if content_type.startswith(b"text/html") else OTHER_CSP
                    headers.append((b"content-security-policy", csp.encode()))
                if self.tls:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(SecurityHeadersMiddleware, tls=settings.tls)
