"""Webhook URLs of a dataset, and its delivery log (README: Webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, StringConstraints

from ..answers import HEADER_NAME, identity_headers
from ..deps import ContainerDep, VersionQuery
from ..versions import Served
from ..webhooks import service
from ..webhooks.addresses import MAX_URL_CHARS

router = APIRouter(prefix="/datasets", tags=["webhooks"])

DELIVERIES_DEFAULT_LIMIT = 50
DELIVERIES_MAX_LIMIT = 500
MAX_OFFSET = 2**53

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
NOT_FOUND = {"description": "no dataset with that name, no version with that id", "content": ERROR}
UNAVAILABLE = {
    "description": "the catalog is unreachable",
    "content": ERROR,
    "headers": RETRY_AFTER,
}


class WebhookUrls(BaseModel):
    """The dataset's webhook URLs; they replace the ones it had ([] removes them all)."""

    urls: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS)]],
        Field(max_length=service.MAX_URLS_PER_DATASET),
    ]


class Target(BaseModel):
    url: str
    since: datetime = Field(description="versions finished from then on are sent to it")


class WebhookConfig(BaseModel):
    dataset: str
    urls: list[str]
    targets: list[Target]
    global_urls: int = Field(description="MINI_WEBHOOKS__URLS, told about every dataset")
    sending: bool = Field(description="false until MINI_WEBHOOKS__SECRET is set")
    links: dict[str, str]


class DeliveryEntry(BaseModel):
    id: int
    version: int | None
    version_id: str
    url: str
    event: str
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str | None
    delivered_at: str | None


class DeliveryLog(BaseModel):
    # The version the URL addresses (a name: the one its stable URL serves), as every
    # per-dataset answer names it; the log itself is of every version for a name.
    id: str
    name: str
    version: int
    dataset: str
    items: list[DeliveryEntry]
    total: int
    offset: int
    limit: int


def _config(container: ContainerDep, config: service.Config) -> WebhookConfig:
    base = f"/datasets/{quote(config.name)}/webhooks"
    return WebhookConfig(
        dataset=config.name,
        urls=[t.url for t in config.targets],
        targets=[Target(url=t.url, since=t.since) for t in config.targets],
        global_urls=config.global_targets,
        sending=container.webhooks.enabled,
        links={"self": base, "deliveries": f"{base}/deliveries"},
    )


@router.get(
    "/{dataset_id}/webhooks",
    responses={404: NOT_FOUND, 503: UNAVAILABLE},
)
async def get_webhooks(
    dataset_id: str, container: ContainerDep, response: Response
) -> WebhookConfig:
    """The URLs told when a version of this dataset becomes ready or failed."""
    config = await anyio.to_thread.run_sync(lambda: service.read(container.catalog, dataset_id))
    # The URLs belong to the name, not to a version: the answer names the dataset only.
    response.headers[HEADER_NAME] = config.name
    return _config(container, config)


@router.put(
    "/{dataset_id}/webhooks",
    responses={
        404: NOT_FOUND,
        422: {
            "description": "a URL is malformed, not http(s), or reaches a private address",
            "content": ERROR,
        },
        503: UNAVAILABLE,
    },
)
async def put_webhooks(
    dataset_id: str, body: WebhookUrls, container: ContainerDep, response: Response
) -> WebhookConfig:
    """Replace the dataset's webhook URLs (kept across versions). A name nothing was
    uploaded under yet may be configured, so its first version is told too."""
    config = await anyio.to_thread.run_sync(
        lambda: service.replace(container.catalog, container.webhooks.policy, dataset_id, body.urls)
    )
    response.headers[HEADER_NAME] = config.name
    return _config(container, config)


@router.get(
    "/{dataset_id}/webhooks/deliveries",
    responses={404: NOT_FOUND, 503: UNAVAILABLE},
)
async def list_deliveries(
    dataset_id: str,
    container: ContainerDep,
    response: Response,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=DELIVERIES_MAX_LIMIT)] = DELIVERIES_DEFAULT_LIMIT,
    version: VersionQuery = None,
) -> DeliveryLog:
    """The delivery log, newest first: a name lists every version's deliveries, a
    version id (or `?version=N`) that version's."""

    def read() -> tuple[Served, list[dict[str, Any]], int]:
        return service.delivery_log(container.catalog, dataset_id, version, offset, limit)

    served, items, total = await anyio.to_thread.run_sync(read)
    response.headers.update(identity_headers(served))
    return DeliveryLog(
        id=served.id,
        name=served.name,
        version=served.version,
        dataset=served.name,
        items=[DeliveryEntry(**i) for i in items],
        total=total,
        offset=offset,
        limit=limit,
    )
