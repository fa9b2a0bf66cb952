"""The FastAPI application factory. Nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from core import __version__
from core.settings import Settings

from .auth import install_api_keys
from .container import build_container
from .errors import install_error_handlers
from .routes import datasets, health, login, stats, ui, upload


def create_app(settings: Settings | None = None) -> FastAPI:
    # Resolved here, not in lifespan: middleware (API keys) is fixed before start.
    resolved = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(resolved)
        container.start()
        app.state.container = container
        try:
            yield
        finally:
            container.stop()

    app = FastAPI(
        title="mini-pipeline",
        version=__version__,
        summary="Upload messy CSV files; get clean, typed data back as JSON.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_api_keys(app, resolved)
    app.include_router(upload.router)
    app.include_router(datasets.router)
    app.include_router(health.router)
    app.include_router(ui.router)
    app.include_router(stats.router)
    app.include_router(login.router)
    app.mount("/static", StaticFiles(packages=[("api", "static")]), name="static")
    return app
