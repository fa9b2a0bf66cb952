"""Errors that carry their HTTP status, and the one handler that renders them."""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.catalog import CatalogError, CatalogUnavailable
from core.storage import StorageError, StorageFull, StorageUnavailable

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class BadRequest(ServiceError):
    status_code = 400
    code = "bad_request"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(ServiceError):
    status_code = 422
    code = "unprocessable"


class ServiceUnavailable(ServiceError):
    status_code = 503
    code = "service_unavailable"


class RequestTimeout(ServiceError):
    """The client sent its body too slowly, or stopped sending it."""

    status_code = 408
    code = "request_timeout"


class InsufficientStorage(ServiceError):
    status_code = 507
    code = "insufficient_storage"


class DeadlineExceeded(ServiceUnavailable):
    """The request's work ran past MINI_REQUEST_TIMEOUT_SECONDS and was stopped."""

    code = "deadline_exceeded"


RETRY = {"Retry-After": "5"}


def error_response(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status_code, headers=headers
    )


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status_code, exc.code, exc.message, exc.headers)


def allowed_methods(request: Request) -> str:
    """Every method the API documents for this path (Starlette names only the first
    matching route's: GET for /datasets/{ref}, which DELETE shares)."""
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        request.app.state, "allow_table", None
    )
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                sorted(m.upper() for m in operations),
            )
            for path, operations in request.app.openapi().get("paths", {}).items()
        ]
        request.app.state.allow_table = table
    for pattern, methods in table:
        if pattern.match(request.url.path):
            return ", ".join(methods)
    return ""


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allow := allowed_methods(request)):
        headers["Allow"] = allow
    return error_response(exc.status_code, code, str(exc.detail), headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return error_response(422, "invalid_parameter", "; ".join(parts) or "invalid request")


def disk_full(exc: BaseException) -> bool:
    """ENOSPC or EDQUOT anywhere in the chain (the store may wrap the OSError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _domain_error(exc: Exception) -> ServiceError:
    """Errors raised below the API layer, as the status they deserve."""
    if isinstance(exc, StorageUnavailable):
        return ServiceUnavailable(f"object storage is unavailable: {exc}", headers=RETRY)
    if isinstance(exc, CatalogUnavailable):
        return ServiceUnavailable(f"catalog database is unavailable: {exc}", headers=RETRY)
    if isinstance(exc, ClientDisconnect):
        return BadRequest("the client disconnected before the upload finished")
    if isinstance(exc, StorageFull) or disk_full(exc):
        return InsufficientStorage(
            "the server's storage is full; retry later", headers={"Retry-After": "60"}
        )
    return ServiceError(str(exc) or type(exc).__name__)


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    err = _domain_error(exc)
    if err.status_code >= 500 and not isinstance(err, ServiceUnavailable | InsufficientStorage):
        log.error("storage or catalog error: %s", exc)
        err = ServiceError("internal server error")
    return await _service_error(request, err)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


class CrashGuard:
    """Renders an unexpected exception as the JSON 500 *inside* the other middleware.

    Starlette sends a handler for ``Exception`` from its outermost layer, so that answer
    bypassed the security headers and the request id. Installed innermost, this one
    answers before them; an exception after the answer began can only end the stream.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for exc_type in (StorageError, CatalogError, ClientDisconnect, OSError):
        app.add_exception_handler(exc_type, _domain)
    # Kept for errors raised in middleware outside the guard (see install_crash_guard).
    app.add_exception_handler(Exception, _unexpected)


def install_crash_guard(app: FastAPI) -> None:
    """Call before any other middleware is added: it must be the innermost."""
    app.add_middleware(CrashGuard)
