"""The FastAPI application factory. Nothing happens at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from core import __version__
from core.logs import configure_logging
from core.settings import Settings

from .auth import install_api_keys
from .container import build_container
from .errors import install_crash_guard, install_error_handlers
from .observability import ObservabilityMiddleware
from .openapi import install_openapi
from .routes import (
    datasets,
    docs,
    health,
    login,
    ops,
    sql,
    stats,
    ui,
    ui_metadata,
    upload,
    webhooks,
)
from .security import install_security_headers

log = logging.getLogger("api")
# How long shutdown waits for aborted uploads to remove their partial objects.
DRAIN_SECONDS = 3.0


def _host(host: str) -> str:
    """An address a browser can open: 0.0.0.0 means this machine."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def create_app(settings: Settings | None = None) -> FastAPI:
    # Resolved here, not in lifespan: middleware (API keys) is fixed before start.
    resolved = settings or Settings()
    if not logging.getLogger().handlers:
        # Served by uvicorn itself (`uvicorn --workers N --factory api.main:create_app`,
        # README: Several workers), not `python -m api`, which has set this up already:
        # each worker writes the same lines, in MINI_LOG_FORMAT, with their request ids.
        configure_logging(resolved.log_format.value, "api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(resolved)
        container.start()
        app.state.container = container
        if app.state.sessions is not None:
            # Sign-outs go to the catalog, which every replica shares.
            app.state.sessions.share_revocations(container.catalog)
        where = f"http://{_host(resolved.host)}:{resolved.port}"
        log.info(
            "mini-pipeline is ready: the UI at %s/ui/datasets, the API docs at %s/docs "
            "(data in %s)",
            where,
            where,
            resolved.data_dir.resolve(),
        )
        try:
            yield
        finally:
            # After uvicorn's grace period: uploads still streaming abort and clean up.
            await container.upload_gate.drain(DRAIN_SECONDS)
            container.stop()

    app = FastAPI(
        title="mini-pipeline",
        version=__version__,
        summary="Upload messy CSV files; get clean, typed data back as JSON.",
        lifespan=lifespan,
        # /docs is ours (a CSP of its own, api/routes/docs.py); no ReDoc.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    # Innermost: a crash's 500 still passes the key check's, headers' and id's layers.
    install_crash_guard(app)
    install_api_keys(app, resolved)
    # Outside the key check: a 401 carries the headers too.
    install_security_headers(app, resolved)
    # Outermost: every answer (a refused key too) has a request id and is counted.
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(upload.router)
    app.include_router(datasets.router)
    app.include_router(health.router)
    app.include_router(ui.router)
    app.include_router(ui_metadata.router)
    app.include_router(stats.router)
    app.include_router(login.router)
    app.include_router(docs.router)
    app.include_router(ops.router)
    app.include_router(sql.router)
    app.include_router(webhooks.router)
    app.mount("/static", StaticFiles(packages=[("api", "static")]), name="static")
    # Every status, content type and header the API answers, and the upload's body.
    install_openapi(app)
    return app
