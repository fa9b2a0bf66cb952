"""The dataset use cases: record an upload, reprocess, delete. Routes only translate HTTP.

Every upload is a version of a named dataset. Versions of a dataset are processed in
order, each compared with the newest earlier ready version (its `baseline`, fixed when
it starts) under the dataset's schema-change policy; both travel in its options.

Reprocess copies a version's uploaded file to a new version and queues it; the version
served until then keeps serving until the new one is ready (and keeps serving if the
new one fails). Every version owns its objects, so deleting one never touches another's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from core import keys
from core.catalog import Catalog, Dataset, Metadata, SchemaPolicy, Status, new_dataset_id
from core.logs import current_request_id
from core.manifest import UploadManifest, write_manifest
from core.settings import NO_TRANSFORM
from core.storage import ObjectNotFound

from .container import Container
from .errors import NotFound, ServiceError, Unprocessable
from .metadata import described_columns, unknown_message
from .options import PACKED_OPTION, check_type_columns, merge_options
from .versions import Served, find_family, resolve, version_of

log = logging.getLogger(__name__)
COPY_CHUNK = 1024 * 1024


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


def processing_options(
    catalog: Catalog,
    name: str,
    chosen: dict[str, Any],
    policy: SchemaPolicy | None,
    registered: Collection[str] = (),
) -> dict[str, Any]:
    """What the processor gets: the user's options, the dataset's policy and transform.
    The version it is compared with (`baseline`) is added when it starts
    (Catalog.mark_processing), once every earlier version is final."""
    options = dict(chosen)
    options["on_schema_change"] = (policy or catalog.policy(name)).value
    options["transform"] = dataset_transform(catalog, name, chosen, registered)
    if request_id := current_request_id():
        # Follows the version into the runner's, the Job's and the processor's logs.
        options["request_id"] = request_id
    return options


def dataset_transform(
    catalog: Catalog, name: str, chosen: dict[str, Any], registered: Collection[str]
) -> str | None:
    """The transform a new version runs: the one given (None for ?transform=none; on
    reprocess, the source version's), else the one of the dataset's newest version,
    which every version records. 422 when that one is no longer registered: the upload
    says so rather than failing later."""
    if "transform" in chosen:
        kept = chosen["transform"]
    else:
        members = catalog.versions(name)
        kept = members[-1].options.get("transform") if members else None
    if not isinstance(kept, str):
        return None
    if kept in registered:
        return kept
    listed = ", ".join(sorted(registered)) or "none is registered"
    raise Unprocessable(
        f"dataset {name!r} uses the transform {kept!r}, which is no longer registered "
        f"(MINI_PROCESSOR__TRANSFORMS: {listed}); give ?transform={NO_TRANSFORM} or "
        "another registered name"
    )


def _record(
    container: Container,
    manifest: UploadManifest,
    raw_key: str,
) -> Dataset:
    """Sidecar, then catalog row; on any failure both go, with the raw object."""
    raw_bucket = container.settings.storage.raw_bucket
    store = container.store
    try:
        write_manifest(store, raw_bucket, manifest)
        created = container.catalog.add(
            dataset_id=manifest.dataset_id,
            filename=manifest.filename,
            raw_key=raw_key,
            sha256=manifest.sha256,
            size_bytes=manifest.size_bytes,
            options=manifest.options,
            name=manifest.name,
            policy=manifest.on_schema_change,
        )
    except BaseException:
        # Nothing half-written: an uncatalogued object is removed again.
        for key in (raw_key, keys.upload_manifest_key(manifest.dataset_id)):
            try:
                store.delete(raw_bucket, key)
            except Exception:
                log.exception("could not remove %s/%s after a failed upload", raw_bucket, key)
        raise
    container.runner.submit(created.id)
    container.resolver.forget()
    return created


class UploadSource(Protocol):
    """An upload body being parsed: its file name and hashes are known once it is read."""

    @property
    def filename(self) -> str | None: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def digest(self) -> Any: ...

    def chunks(self) -> Iterator[bytes]: ...


def upload(
    container: Container,
    source: UploadSource,
    *,
    filename: str | None,
    name: str | None,
    options: dict[str, Any],
    policy: SchemaPolicy | None,
) -> Dataset:
    """Stream the file into `raw`, then record it as the next version of `name`.
    `filename` overrides the name the body carries (multipart), known only once read."""
    if name is not None and keys.is_dataset_id(name) and not container.catalog.versions(name):
        # Such a name would shadow a version's own URL (README: Identity and versions).
        raise Unprocessable(
            f"name {name!r} looks like a version id; choose another name "
            "(a 32-character hex name is only taken as an existing unnamed dataset's name)"
        )
    dataset_id = new_dataset_id()
    raw_key = keys.raw_key(dataset_id)
    dataset_name = name or dataset_id
    # Before the body is read: a catalog that cannot answer fails the upload with
    # nothing stored, rather than after the file is.
    processing = processing_options(
        container.catalog, dataset_name, options, policy, container.settings.processor.transforms
    )
    started = time.perf_counter()
    try:
        container.ensure_buckets()
        info = container.store.put_stream(
            container.settings.storage.raw_bucket,
            raw_key,
            source.chunks(),
            metadata={"dataset-id": dataset_id},
        )
    except BaseException:
        container.metrics.upload_rejected()
        raise
    # Known from the head only now: the Kubernetes runner sizes and counts the Job by it.
    processing[PACKED_OPTION] = bool(source.digest.packed)
    manifest = UploadManifest(
        dataset_id=dataset_id,
        filename=filename or source.filename or "upload.csv",
        size_bytes=info.size,
        sha256=source.digest.sha256.hexdigest(),
        content_type=source.content_type,
        uploaded_at=datetime.now(UTC),
        name=dataset_name,
        options=processing,
        on_schema_change=policy,
    )
    created = _record(container, manifest, raw_key)
    container.metrics.observe_upload(info.size, time.perf_counter() - started)
    log.info(
        "upload %s stored: version %s of %s, %d bytes",
        created.id,
        created.version,
        dataset_name,
        info.size,
        extra={"dataset_id": created.id, "fields": {"size_bytes": info.size}},
    )
    return created


def reprocess(
    container: Container,
    ref: str,
    version: int | None,
    overrides: dict[str, Any],
    policy: SchemaPolicy | None,
) -> Dataset:
    """A new version from the raw file of `version` (default: the one `ref` serves, or
    the newest when none is ready), with the source's options and `overrides` on top."""
    catalog, store, settings = container.catalog, container.store, container.settings
    source = resolve(catalog, ref, version).dataset
    name = source.name or source.id
    raw_bucket = settings.storage.raw_bucket
    new_id = new_dataset_id()
    raw_key = keys.raw_key(new_id)
    chosen = merge_options(source.options, overrides)
    check_type_columns(overrides, lambda: source_report(container, source), version_of(source))
    manifest = UploadManifest(
        dataset_id=new_id,
        filename=source.filename,
        size_bytes=source.size_bytes,
        sha256=source.sha256,
        uploaded_at=datetime.now(UTC),
        name=name,
        options=processing_options(catalog, name, chosen, policy, settings.processor.transforms)
        | {k: v for k, v in source.options.items() if k == PACKED_OPTION},
        on_schema_change=policy,
        reprocess_of=source.id,
    )
    container.ensure_buckets()
    try:
        with store.open(raw_bucket, source.raw_key) as fh:
            chunks = iter(lambda: fh.read(COPY_CHUNK), b"")
            store.put_stream(raw_bucket, raw_key, chunks, metadata={"dataset-id": new_id})
    except ObjectNotFound:
        raise Conflict(
            f"version {version_of(source)} of dataset {name!r} has no uploaded file left"
        ) from None
    return _record(container, manifest, raw_key)


def source_report(container: Container, source: Dataset) -> dict[str, Any] | None:
    """A ready version's report.json (its columns), None when it has none to read."""
    if source.status != Status.ready:
        return None
    bucket = container.settings.storage.processed_bucket
    try:
        with container.store.open(bucket, keys.report_key(source.id)) as fh:
            report = json.loads(fh.read())
    except (ObjectNotFound, ValueError):
        return None
    return report if isinstance(report, dict) else None


def delete(container: Container, ref: str, version: int | None) -> tuple[Served, list[str]]:
    """Remove every version of the named dataset, or the one version a version id or
    `version` names: objects first, so nothing points at missing data. Returns the
    version the URL addressed, and the ids removed.

    The upload sidecar goes last among the objects: while it exists the reconciler may
    record an upload again, and the catalog row is removed only after it.
    """
    catalog, store, settings = container.catalog, container.store, container.settings
    served = resolve(catalog, ref, version)
    # A name means the dataset; a version's id (or ?version=N) means that version.
    targets = find_family(catalog, ref) if served.addressed_by == "name" else [served.dataset]
    busy = [t for t in targets if not t.is_final]
    if busy:
        names = ", ".join(f"version {version_of(t)} ({t.status.value})" for t in busy)
        raise Conflict(
            f"cannot delete while a version is being processed: {names}; retry when it ends",
            headers={"Retry-After": "5"},
        )
    deleted = []
    for target in targets:
        for bucket, prefix in (
            (settings.storage.processed_bucket, keys.processed_prefix(target.id)),
            (settings.storage.raw_bucket, keys.raw_prefix(target.id)),
        ):
            sidecar = keys.upload_manifest_key(target.id)
            found = list(store.list(bucket, prefix))
            for key in sorted(found, key=lambda k: k == sidecar):
                store.delete(bucket, key)
        if target.raw_key and not target.raw_key.startswith(keys.raw_prefix(target.id)):
            store.delete(settings.storage.raw_bucket, target.raw_key)
        catalog.delete(target.id)
        deleted.append(target.id)
        container.resolver.forget()
    return served, deleted


def metadata(container: Container, ref: str, version: int | None = None) -> tuple[Served, Metadata]:
    """The metadata of the dataset `ref` (a name or any version's id) names. It is the
    dataset's, shared by its versions; the answer names the version the URL addresses."""
    served = container.resolver.resolve(ref, version)
    found = container.catalog.metadata(served.name)
    if found is None:
        raise NotFound(f"no dataset named {served.name!r}")
    return served, found


def update_metadata(
    container: Container, ref: str, changes: dict[str, Any], version: int | None = None
) -> tuple[Served, Metadata]:
    """Change the given metadata fields of the dataset `ref` names (README: Metadata and
    search). Descriptions are only for columns some version of it has: a typo would
    otherwise describe a column nobody sees."""
    catalog = container.catalog
    served = resolve(catalog, ref, version)
    described = described_columns(changes)
    if described:
        known = known_columns(container, find_family(catalog, served.name))
        unknown = [c for c in described if c not in known]
        if unknown:
            raise Unprocessable(unknown_message(unknown, len(known)))
    updated = catalog.set_metadata(served.name, changes)
    if updated is None:
        raise NotFound(f"no dataset named {served.name!r}")
    return served, updated


def known_columns(container: Container, members: list[Dataset]) -> set[str]:
    """The columns of every version: as recorded when it became ready, else (versions
    ready before the catalog recorded them) from its report."""
    known: set[str] = set()
    for member in members:
        if member.columns is not None:
            known.update(member.columns)
        elif (report := source_report(container, member)) is not None:
            entries = report.get("columns")
            if isinstance(entries, list):
                known.update(str(c["name"]) for c in entries if isinstance(c, dict) and "name" in c)
    return known
