"""Dependencies, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Query, Request

from core.catalog import Catalog
from core.settings import Settings
from core.storage import ObjectStore

from .container import Container
from .runners.base import Runner
from .sql.engine import SqlEngine
from .versions import Served

# Versions are numbered from 1; anything beyond a 32-bit int is no version (422, not 500).
MAX_VERSION = 2**31 - 1
VersionQuery = Annotated[
    int | None,
    Query(ge=1, le=MAX_VERSION, description="version N of the dataset; default: see the URL"),
]


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_settings(container: ContainerDep) -> Settings:
    return container.settings


async def get_store(container: ContainerDep) -> ObjectStore:
    return container.store


async def get_catalog(container: ContainerDep) -> Catalog:
    return container.catalog


async def get_runner(container: ContainerDep) -> Runner:
    return container.runner


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
RunnerDep = Annotated[Runner, Depends(get_runner)]


async def get_sql_engine(container: ContainerDep) -> SqlEngine:
    return container.sql


SqlEngineDep = Annotated[SqlEngine, Depends(get_sql_engine)]


async def get_served(request: Request, dataset_id: str, version: VersionQuery = None) -> Served:
    """The version a per-dataset request is about (api/versions.py decides)."""
    container: Container = request.app.state.container
    return await anyio.to_thread.run_sync(lambda: container.resolver.resolve(dataset_id, version))


ServedDep = Annotated[Served, Depends(get_served)]
