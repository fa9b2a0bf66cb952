"""How uvicorn serves the app: bounded request lines and headers, a graceful but
bounded shutdown.

- Request line and headers: uvicorn's httptools protocol accepts any size of header
  and answers an over-long URL (> 64 KiB, httptools' own limit) with a plain-text 400.
  `BoundedHttpToolsProtocol` stops collecting past MINI_MAX_URL_BYTES /
  MINI_MAX_HEADER_BYTES and answers 414 / 431 with the API's JSON error body; any
  other malformed request gets a JSON 400.
- SIGTERM: uvicorn stops accepting, lets requests run for MINI_SHUTDOWN_GRACE_SECONDS,
  then cancels them (an upload's store aborts its object) and runs the app's shutdown.
  A watchdog ends the process if that shutdown itself hangs (work stuck in a thread).
"""

from __future__ import annotations

import logging
import os
import threading
from types import FrameType
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server

from core.settings import Settings

log = logging.getLogger(__name__)
# After the grace period: time for the app's own shutdown before the process is ended.
SHUTDOWN_MARGIN_SECONDS = 5.0
REASONS = {400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


def _json_error(status: int, code: str, message: str) -> bytes:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
        b"x-content-type-options: nosniff\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, REASONS[status], len(body))
    )
    return head + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_url_bytes = 16 * 1024
    max_header_bytes = 32 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._too_large: tuple[int, str, str] | None = None
        self._header_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._too_large = None
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        if self._too_large is None and len(self.url) + len(url) > self.max_url_bytes:
            self._too_large = (
                414,
                "uri_too_long",
                f"the request URL is longer than {self.max_url_bytes} bytes "
                "(MINI_MAX_URL_BYTES); send fewer or shorter query parameters",
            )
        if self._too_large is None:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._too_large is None and self._header_bytes > self.max_header_bytes:
            self._too_large = (
                431,
                "headers_too_large",
                f"the request headers are larger than {self.max_header_bytes} bytes "
                "(MINI_MAX_HEADER_BYTES)",
            )
        if self._too_large is None:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._too_large is not None:
            status, code, message = self._too_large
            self.transport.write(_json_error(status, code, message))
            self.transport.close()
            # Nothing more of this connection is parsed or handed to the app.
            raise _Refused
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(_json_error(400, "bad_request", f"malformed HTTP request: {msg}"))
        self.transport.close()


class _Refused(Exception):
    """Raised from a parser callback: httptools stops parsing this connection."""


class GracefulServer(Server):
    """uvicorn's server, plus a watchdog that ends a shutdown that hangs."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            grace = self.config.timeout_graceful_shutdown or 0
            timer = threading.Timer(grace + SHUTDOWN_MARGIN_SECONDS, _force_exit)
            timer.daemon = True
            timer.start()
        super().handle_exit(sig, frame)


def _force_exit() -> None:
    log.error("shutdown did not finish within the grace period; exiting")
    os._exit(1)


def serve(settings: Settings, **options: Any) -> None:
    """Run the app as `uvicorn.run` would, with the limits above; `options` go to uvicorn."""
    protocol = type(
        "Protocol",
        (BoundedHttpToolsProtocol,),
        {"max_url_bytes": settings.max_url_bytes, "max_header_bytes": settings.max_header_bytes},
    )
    config = uvicorn.Config(
        "api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level="info",
        http=protocol,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
        **options,
    )
    GracefulServer(config).run()
