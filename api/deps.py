"""Dependencies, declared once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.catalog import Catalog
from core.settings import Settings
from core.storage import ObjectStore

from .container import Container
from .runners.base import Runner


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
