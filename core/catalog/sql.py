"""The catalog on SQLAlchemy 2: SQLite by default, PostgreSQL by URL.

The schema is owned by the Alembic migrations in `core/migrations/`; `DatasetRow` and
`DatasetNameRow` must stay in step with them (a test compares the two).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from alembic.util.exc import CommandError
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ..migrations.apply import upgrade_to_head
from . import search
from .base import (
    ALL_DATASETS,
    DEFAULT_POLICY,
    FINAL,
    MAX_LICENCE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    METADATA_FIELDS,
    CatalogError,
    CatalogUnavailable,
    Dataset,
    Delivery,
    DeliveryState,
    Family,
    Metadata,
    SchemaPolicy,
    Status,
    WebhookTarget,
    now,
)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

# A claim whose heartbeat is older than this belongs to a runner that is gone.
CLAIM_STALE_SECONDS = 60.0


class Base(DeclarativeBase):
    pass


class DatasetRow(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_datasets_name_version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    filename: Mapped[str] = mapped_column(String(1024))
    raw_key: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows_in: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rows_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rows_rejected: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Uploads sharing a name are versions 1, 2, ... of one dataset; unnamed ones have neither.
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The processor's comparison with the version served before this one.
    schema_diff: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The runner processing it, and when it last said it still is (0004).
    claimed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Its column names, recorded when it becomes ready: the search index's (0007).
    columns: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class DatasetNameRow(Base):
    """A dataset: a name whose versions are rows of `datasets`."""

    __tablename__ = "dataset_names"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    on_schema_change: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DatasetMetadataRow(Base):
    """What a person says about a dataset, kept across its versions (0007)."""

    __tablename__ = "dataset_metadata"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    title: Mapped[str | None] = mapped_column(String(MAX_TITLE_CHARS), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    licence: Mapped[str | None] = mapped_column(String(MAX_LICENCE_CHARS), nullable=True)
    source: Mapped[str | None] = mapped_column(String(MAX_SOURCE_CHARS), nullable=True)
    # The data dictionary: column name -> description.
    columns: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _to_metadata(row: DatasetMetadataRow | None) -> Metadata:
    if row is None:
        return Metadata()
    return Metadata(
        title=row.title,
        description=row.description,
        tags=tuple(row.tags or ()),
        licence=row.licence,
        source=row.source,
        columns=dict(row.columns or {}),
        updated_at=_aware(row.updated_at),
    )


class RevokedSessionRow(Base):
    """A signed-out browser session (api/sessions.py), until it would have expired."""

    __tablename__ = "revoked_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class WebhookTargetRow(Base):
    """A URL told when versions of a dataset (or of every one, ALL_DATASETS) finish (0006)."""

    __tablename__ = "webhook_targets"

    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), primary_key=True)
    # Versions that finished before the URL was configured are never sent to it.
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookDeliveryRow(Base):
    """The webhook outbox and its log: one row per final version and URL (0006)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("dataset_id", "url", name="uq_webhook_deliveries_dataset_url"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# Concurrent enqueuers (a replica's listener, another's catch-up) may insert the same
# (version, URL) first: the unique constraint refuses ours and we look again.
ENQUEUE_ATTEMPTS = 3
DELIVERY_ERROR_CHARS = 2000


def _to_delivery(row: WebhookDeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        dataset_id=row.dataset_id,
        name=row.name,
        url=row.url,
        event=row.event,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=_aware(row.next_attempt_at),
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=_aware(row.created_at) or row.created_at,
        delivered_at=_aware(row.delivered_at),
    )


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _to_dataset(row: DatasetRow) -> Dataset:
    return Dataset(
        id=row.id,
        filename=row.filename,
        raw_key=row.raw_key,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        status=Status(row.status),
        error=row.error,
        options=dict(row.options or {}),
        rows_in=row.rows_in,
        rows_out=row.rows_out,
        rows_rejected=row.rows_rejected,
        attempts=row.attempts,
        created_at=_aware(row.created_at) or row.created_at,
        started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at),
        name=row.name,
        version=row.version,
        schema_diff=row.schema_diff,
        claimed_by=row.claimed_by,
        heartbeat_at=_aware(row.heartbeat_at),
        columns=tuple(row.columns) if row.columns is not None else None,
    )


# Each round of concurrent uploads under one name has a winner, so this bounds the
# number of uploads racing for the same name, not the time spent.
VERSION_ATTEMPTS = 32


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the API read while a processor subprocess writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """SQLAlchemy's errors as the port's: a database that cannot be reached (down,
    restarting, refusing us) is CatalogUnavailable (503 + Retry-After), anything else
    from the database is CatalogError."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            raise CatalogUnavailable(str(exc).splitlines()[0]) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise CatalogUnavailable(str(exc).splitlines()[0]) from exc
            raise CatalogError(str(exc).splitlines()[0]) from exc

    return wrapper


def _translated(cls: type[T]) -> type[T]:
    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_") and name not in {"from_url"}:
            setattr(cls, name, _translate_errors(member))
    return cls


@_translated
class SqlCatalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> SqlCatalog:
        return cls(make_engine(url))

    def create_schema(self) -> None:
        """Migrate the database to the newest schema; safe when several replicas start at once."""
        try:
            upgrade_to_head(self.engine)
        except OperationalError as exc:
            raise CatalogUnavailable(str(exc)) from exc
        except (CommandError, SQLAlchemyError) as exc:
            raise CatalogError(f"catalog schema migration failed: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(str(exc)) from exc

    def _session(self) -> Session:
        return self._sessions()

    def add(
        self,
        *,
        dataset_id: str,
        filename: str,
        raw_key: str,
        sha256: str,
        size_bytes: int,
        options: dict[str, Any] | None = None,
        name: str | None = None,
        policy: SchemaPolicy | None = None,
    ) -> Dataset:
        """Record a queued dataset; with a `name`, as that name's next version.

        The name's row is created on its first version (with `policy`, else the
        default); a `policy` given with a later version replaces the stored one.
        """
        for _ in range(VERSION_ATTEMPTS):
            row = DatasetRow(
                id=dataset_id,
                filename=filename,
                raw_key=raw_key,
                sha256=sha256,
                size_bytes=size_bytes,
                status=Status.queued.value,
                options=options or {},
                attempts=0,
                created_at=now(),
                name=name,
            )
            try:
                with self._session() as session, session.begin():
                    if name is not None:
                        if self._claim_name(session, name, policy):
                            # A new name is findable at once, before anything is ready
                            # (a name is created with its first version: none is).
                            self._reindex(session, name, [])
                        row.version = self._next_version(session, name)
                    session.add(row)
            except IntegrityError as exc:
                if name is None or self.get(dataset_id) is not None:
                    raise CatalogError(f"could not record dataset: {exc}") from exc
                # A concurrent upload took this version number (or created the name
                # first): count again.
                continue
            except (OperationalError, InterfaceError):
                raise  # unreachable: CatalogUnavailable, by _translate_errors
            except SQLAlchemyError as exc:
                raise CatalogError(f"could not record dataset: {exc}") from exc
            return _to_dataset(row)
        raise CatalogError(
            f"could not assign a version of {name!r} in {VERSION_ATTEMPTS} attempts: "
            "too many concurrent uploads under that name"
        )

    @staticmethod
    def _claim_name(session: Session, name: str, policy: SchemaPolicy | None) -> bool:
        """Make sure the name has its row; True when this created it."""
        named = session.get(DatasetNameRow, name)
        if named is None:
            session.add(
                DatasetNameRow(
                    name=name,
                    on_schema_change=(policy or DEFAULT_POLICY).value,
                    created_at=now(),
                )
            )
            session.flush()
            return True
        if policy is not None and named.on_schema_change != policy.value:
            named.on_schema_change = policy.value
        return False

    def policy(self, name: str) -> SchemaPolicy:
        """The dataset's schema-change policy (the default for a name not seen yet)."""
        with self._session() as session:
            named = session.get(DatasetNameRow, name)
            return SchemaPolicy(named.on_schema_change) if named else DEFAULT_POLICY

    def families(
        self,
        *,
        prefix: str | None = None,
        status: Status | None = None,
        offset: int = 0,
        limit: int = 100,
        q: str | None = None,
    ) -> tuple[list[Family], int]:
        """One entry per dataset name, most recently updated first; `status` filters on
        the newest version's status. With `q`, only the datasets whose search row holds
        every word of it (as a word prefix), best match first (search.py)."""
        ready_version = case((DatasetRow.status == Status.ready.value, DatasetRow.version))
        stats = (
            select(
                DatasetRow.name.label("name"),
                func.max(DatasetRow.version).label("latest"),
                func.max(ready_version).label("ready"),
                func.count().label("count"),
            )
            .where(DatasetRow.name.is_not(None))
            .group_by(DatasetRow.name)
            .subquery()
        )
        latest = (
            select(
                DatasetRow,
                stats.c.ready,
                stats.c.count,
                DatasetNameRow.on_schema_change,
                DatasetMetadataRow,
            )
            .join(stats, (DatasetRow.name == stats.c.name) & (DatasetRow.version == stats.c.latest))
            .outerjoin(DatasetNameRow, DatasetNameRow.name == DatasetRow.name)
            .outerjoin(DatasetMetadataRow, DatasetMetadataRow.name == DatasetRow.name)
        )
        order: list[Any] = [DatasetRow.created_at.desc(), DatasetRow.id.desc()]
        if q is not None:
            terms = search.query_words(q)[: search.MAX_QUERY_WORDS]
            if not terms:
                return [], 0
            hits = self._search_hits(terms)
            latest = latest.join(hits, hits.c.name == DatasetRow.name)
            order.insert(0, hits.c.score)
        if prefix:
            latest = latest.where(DatasetRow.name.startswith(prefix, autoescape=True))
        if status is not None:
            latest = latest.where(DatasetRow.status == status.value)
        with self._session() as session:
            total = session.scalar(select(func.count()).select_from(latest.subquery())) or 0
            page = session.execute(latest.order_by(*order).offset(offset).limit(limit)).all()
            wanted = [(r[0].name, r[1]) for r in page if r[1] is not None and r[1] != r[0].version]
            ready_rows: dict[str, DatasetRow] = {}
            for name, version in wanted:
                found = session.scalars(
                    select(DatasetRow).where(DatasetRow.name == name, DatasetRow.version == version)
                ).first()
                if found is not None:
                    ready_rows[name] = found
            families = []
            for row, ready, count, policy, meta in page:
                newest = _to_dataset(row)
                if ready == row.version:
                    ready_one: Dataset | None = newest
                else:
                    hit = ready_rows.get(row.name)
                    ready_one = _to_dataset(hit) if hit is not None else None
                families.append(
                    Family(
                        name=row.name,
                        on_schema_change=SchemaPolicy(policy or DEFAULT_POLICY),
                        latest=newest,
                        latest_ready=ready_one,
                        versions=int(count),
                        metadata=_to_metadata(meta),
                    )
                )
            return families, int(total)

    def _search_hits(self, terms: list[str]) -> Any:
        """(name, score) of the datasets matching every term; a lower score is a better
        match on both backends."""
        if self.engine.dialect.name == "postgresql":
            query = text(
                f"SELECT name, -ts_rank(document, query) AS score "
                f"FROM {search.SEARCH_TABLE}, to_tsquery('simple', :tsquery) AS query "
                "WHERE document @@ query"
            ).bindparams(tsquery=search.tsquery(terms))
        else:
            weights = ", ".join(str(w) for w in search.FTS_WEIGHTS)
            query = text(
                f"SELECT dataset AS name, bm25({search.SEARCH_TABLE}, {weights}) AS score "
                f"FROM {search.SEARCH_TABLE} WHERE {search.SEARCH_TABLE} MATCH :match"
            ).bindparams(match=search.fts5_match(terms))
        # Materialized: found once, then joined. Inlined, SQLite ran the FTS5 match again
        # for every dataset it joined (2,000 datasets: 14.5 s).
        return query.columns(name=String, score=Float).cte("hits").prefix_with("MATERIALIZED")

    def _reindex(
        self, session: Session, name: str, latest_columns: Sequence[str] | None = None
    ) -> None:
        """Rebuild the name's search row from its metadata and the column names of its
        latest ready version (read here unless the caller knows them), in the caller's
        transaction."""
        meta = _to_metadata(session.get(DatasetMetadataRow, name))
        columns = latest_columns
        if columns is None:
            columns = session.scalars(
                select(DatasetRow.columns)
                .where(DatasetRow.name == name, DatasetRow.status == Status.ready.value)
                .order_by(DatasetRow.version.desc())
                .limit(1)
            ).first()
        doc = search.document(
            name,
            title=meta.title,
            description=meta.description,
            tags=meta.tags,
            column_names=columns or [],
            column_descriptions=meta.columns,
        )
        fields = doc.fields()
        if self.engine.dialect.name == "postgresql":
            vector = " || ".join(
                f"setweight(to_tsvector('simple', :{f}), '{w}')"
                for f, w in search.PG_WEIGHTS.items()
            )
            session.execute(
                text(
                    f"INSERT INTO {search.SEARCH_TABLE} (name, document) "
                    f"VALUES (:dataset, {vector}) "
                    "ON CONFLICT (name) DO UPDATE SET document = EXCLUDED.document"
                ),
                fields,
            )
            return
        session.execute(text(f"DELETE FROM {search.SEARCH_TABLE} WHERE dataset = :dataset"), fields)
        names = ", ".join(search.FTS_COLUMNS)
        values = ", ".join(f":{c}" for c in search.FTS_COLUMNS)
        session.execute(
            text(f"INSERT INTO {search.SEARCH_TABLE} ({names}) VALUES ({values})"), fields
        )

    def _unindex(self, session: Session, name: str) -> None:
        column = "name" if self.engine.dialect.name == "postgresql" else "dataset"
        session.execute(
            text(f"DELETE FROM {search.SEARCH_TABLE} WHERE {column} = :key"), {"key": name}
        )

    def metadata(self, name: str) -> Metadata | None:
        """The dataset's metadata (empty when never edited); None for an unknown name."""
        with self._session() as session:
            if session.get(DatasetNameRow, name) is None:
                return None
            return _to_metadata(session.get(DatasetMetadataRow, name))

    def set_metadata(self, name: str, changes: dict[str, Any]) -> Metadata | None:
        """Change the given fields (None clears one) and leave the others; `columns`
        merges into the data dictionary the same way (a None description removes that
        column's). None for an unknown name."""
        unknown = set(changes) - set(METADATA_FIELDS)
        if unknown:
            raise CatalogError(f"not metadata fields: {sorted(unknown)}")
        with self._session() as session, session.begin():
            if session.get(DatasetNameRow, name) is None:
                return None
            row = session.get(DatasetMetadataRow, name)
            if row is None:
                row = DatasetMetadataRow(name=name, updated_at=now())
                session.add(row)
            for key, value in changes.items():
                if key == "columns":
                    merged = dict(row.columns or {}) if value is not None else {}
                    for column, described in (value or {}).items():
                        if described is None:
                            merged.pop(column, None)
                        else:
                            merged[column] = described
                    row.columns = merged or None
                elif key == "tags":
                    row.tags = list(value) if value else None
                else:
                    setattr(row, key, value)
            row.updated_at = now()
            session.flush()
            self._reindex(session, name)
            return _to_metadata(row)

    def names(self, prefix: str = "", limit: int = 20) -> list[str]:
        """Dataset names starting with `prefix`, for the upload page's suggestions."""
        with self._session() as session:
            query = select(DatasetNameRow.name).order_by(DatasetNameRow.name).limit(limit)
            if prefix:
                query = query.where(DatasetNameRow.name.startswith(prefix, autoescape=True))
            return list(session.scalars(query))

    @staticmethod
    def _next_version(session: Session, name: str) -> int:
        latest = session.scalar(select(func.max(DatasetRow.version)).where(DatasetRow.name == name))
        return int(latest or 0) + 1

    def versions(self, name: str) -> list[Dataset]:
        """Every version of `name`, oldest first, whatever its status."""
        with self._session() as session:
            rows = session.scalars(
                select(DatasetRow).where(DatasetRow.name == name).order_by(DatasetRow.version)
            ).all()
            return [_to_dataset(r) for r in rows]

    def get(self, dataset_id: str) -> Dataset | None:
        with self._session() as session:
            row = session.get(DatasetRow, dataset_id)
            return _to_dataset(row) if row else None

    def status_counts(self) -> dict[Status, int]:
        """Versions by status, every status present (one GROUP BY: /metrics asks this
        at every scrape, and the catalog may hold millions of rows)."""
        with self._session() as session:
            found = session.execute(
                select(DatasetRow.status, func.count()).group_by(DatasetRow.status)
            ).all()
        counts = dict.fromkeys(Status, 0)
        for status, count in found:
            counts[Status(status)] = int(count)
        return counts

    def with_status(self, statuses: Sequence[Status], *, limit: int | None = None) -> list[Dataset]:
        """Oldest first; with `limit`, only that many (a backlog can be thousands)."""
        query = (
            select(DatasetRow)
            .where(DatasetRow.status.in_([s.value for s in statuses]))
            .order_by(DatasetRow.created_at)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            return [_to_dataset(r) for r in session.scalars(query).all()]

    def _transition(self, dataset_id: str, allowed: Sequence[Status], **values: Any) -> bool:
        stmt = (
            update(DatasetRow)
            .where(DatasetRow.id == dataset_id)
            .where(DatasetRow.status.in_([s.value for s in allowed]))
            .values(**values)
        )
        with self._session() as session, session.begin():
            result = session.execute(stmt)
            return bool(getattr(result, "rowcount", 0))

    def mark_processing(self, dataset_id: str, owner: str | None = None) -> bool:
        """queued -> processing, claimed by `owner`. A retried attempt may find it
        processing already: it may go on only under the same owner, or when the claim's
        heartbeat is older than CLAIM_STALE_SECONDS (its owner is gone).

        Versions of one dataset start in order: while an earlier version is queued or
        processing this one stays queued (False), so that the version it is compared
        with (its `baseline`, the newest earlier ready version, recorded in its options
        here, at the start) is final and cannot change under it.
        """
        with self._session() as session, session.begin():
            row = session.get(DatasetRow, dataset_id)
            if row is None or row.status not in (Status.queued.value, Status.processing.value):
                return False
            if row.status == Status.processing.value and not self._may_take(row, owner):
                return False
            options = dict(row.options or {})
            if row.status == Status.queued.value:
                options.pop("baseline", None)
            # Version 1 has no earlier versions to wait for or compare with.
            if (
                row.status == Status.queued.value
                and row.name is not None
                and (row.version or 0) > 1
            ):
                earlier = select(DatasetRow).where(
                    DatasetRow.name == row.name, DatasetRow.version < row.version
                )
                unfinished = session.scalar(
                    select(func.count()).select_from(
                        earlier.where(
                            DatasetRow.status.in_([Status.queued.value, Status.processing.value])
                        ).subquery()
                    )
                )
                if unfinished:
                    return False
                baseline = session.scalars(
                    earlier.where(DatasetRow.status == Status.ready.value)
                    .order_by(DatasetRow.version.desc())
                    .limit(1)
                ).first()
                if baseline is not None:
                    options["baseline"] = {"id": baseline.id, "version": baseline.version}
            result = session.execute(
                update(DatasetRow)
                .where(DatasetRow.id == dataset_id)
                .where(DatasetRow.status.in_([Status.queued.value, Status.processing.value]))
                .values(
                    status=Status.processing.value,
                    started_at=now(),
                    attempts=DatasetRow.attempts + 1,
                    options=options,
                    claimed_by=owner,
                    heartbeat_at=now(),
                )
            )
            return bool(getattr(result, "rowcount", 0))

    @staticmethod
    def _may_take(row: DatasetRow, owner: str | None) -> bool:
        if row.claimed_by is None or owner is None or row.claimed_by == owner:
            return True
        beat = _aware(row.heartbeat_at)
        return beat is None or beat < now() - timedelta(seconds=CLAIM_STALE_SECONDS)

    def heartbeat(self, dataset_ids: Sequence[str], owner: str) -> int:
        """The owner still processes these: refresh their claims."""
        if not dataset_ids:
            return 0
        with self._session() as session, session.begin():
            result = session.execute(
                update(DatasetRow)
                .where(DatasetRow.id.in_(list(dataset_ids)))
                .where(DatasetRow.claimed_by == owner)
                .where(DatasetRow.status == Status.processing.value)
                .values(heartbeat_at=now())
            )
            return int(getattr(result, "rowcount", 0))

    def revoke_session(self, sid: str, expires_at: datetime) -> None:
        """Remember a signed-out session until it expires; forget the expired ones."""
        with self._session() as session, session.begin():
            session.execute(delete(RevokedSessionRow).where(RevokedSessionRow.expires_at <= now()))
            if session.get(RevokedSessionRow, sid) is None:
                session.add(RevokedSessionRow(sid=sid, expires_at=expires_at))

    def session_revoked(self, sid: str) -> bool:
        with self._session() as session:
            return session.get(RevokedSessionRow, sid) is not None

    def next_in_line(self, name: str) -> list[Dataset]:
        """Queued versions of `name`, oldest first: what may start once one finishes."""
        with self._session() as session:
            rows = session.scalars(
                select(DatasetRow)
                .where(DatasetRow.name == name, DatasetRow.status == Status.queued.value)
                .order_by(DatasetRow.version)
            ).all()
            return [_to_dataset(r) for r in rows]

    def requeue(self, dataset_id: str, owner: str | None = None) -> bool:
        """processing -> queued, for work whose runner died; never from a final state.
        With `owner`, only while that owner's claim is the one recorded."""
        stmt = (
            update(DatasetRow)
            .where(DatasetRow.id == dataset_id)
            .where(DatasetRow.status == Status.processing.value)
            .values(status=Status.queued.value, started_at=None, claimed_by=None)
        )
        if owner is not None:
            stmt = stmt.where(DatasetRow.claimed_by == owner)
        with self._session() as session, session.begin():
            return bool(getattr(session.execute(stmt), "rowcount", 0))

    def mark_ready(
        self,
        dataset_id: str,
        *,
        rows_in: int,
        rows_out: int,
        rows_rejected: int,
        schema_diff: dict[str, Any] | None = None,
        columns: Sequence[str] | None = None,
    ) -> bool:
        """-> ready; its `columns` (names) are recorded and, as the dataset's latest ready
        version, searched from now on."""
        stmt = (
            update(DatasetRow)
            .where(DatasetRow.id == dataset_id)
            .where(DatasetRow.status.in_([Status.queued.value, Status.processing.value]))
            .values(
                status=Status.ready.value,
                error=None,
                rows_in=rows_in,
                rows_out=rows_out,
                rows_rejected=rows_rejected,
                schema_diff=schema_diff,
                finished_at=now(),
                columns=list(columns) if columns is not None else None,
            )
        )
        with self._session() as session, session.begin():
            moved = session.execute(stmt.returning(DatasetRow.name)).first()
            if moved is None:
                return False
            name = moved[0]
            if name is not None:
                # Versions of a name start in order, so none after this one is ready:
                # its columns are the latest ready version's.
                self._reindex(session, name, list(columns) if columns is not None else None)
            return True

    def mark_failed(
        self, dataset_id: str, error: str, *, schema_diff: dict[str, Any] | None = None
    ) -> bool:
        return self._transition(
            dataset_id,
            [Status.queued, Status.processing],
            status=Status.failed.value,
            error=error[:4000],
            schema_diff=schema_diff,
            finished_at=now(),
        )

    def delete(self, dataset_id: str) -> bool:
        """Remove one version; the name goes with its last version."""
        with self._session() as session, session.begin():
            row = session.get(DatasetRow, dataset_id)
            if row is None:
                return False
            name = row.name
            session.delete(row)
            session.flush()
            if name is not None:
                left = session.scalar(
                    select(func.count()).select_from(DatasetRow).where(DatasetRow.name == name)
                )
                if not left:
                    named = session.get(DatasetNameRow, name)
                    if named is not None:
                        session.delete(named)
                    # Its metadata and search row go with the name too.
                    session.execute(
                        delete(DatasetMetadataRow).where(DatasetMetadataRow.name == name)
                    )
                    self._unindex(session, name)
                    # The dataset's webhook URLs go with its name.
                    session.execute(delete(WebhookTargetRow).where(WebhookTargetRow.scope == name))
                else:
                    # The latest ready version, whose columns are searched, may be another.
                    self._reindex(session, name)
            session.execute(
                delete(WebhookDeliveryRow).where(WebhookDeliveryRow.dataset_id == dataset_id)
            )
            return True

    def set_webhooks(self, scope: str, urls: Sequence[str]) -> list[WebhookTarget]:
        """Make `urls` the scope's webhook targets: a URL kept keeps its `since`, a new
        one starts now, a URL left out is removed (its deliveries stay in the log)."""
        wanted = list(dict.fromkeys(urls))
        with self._session() as session, session.begin():
            rows = session.scalars(
                select(WebhookTargetRow).where(WebhookTargetRow.scope == scope)
            ).all()
            have = {r.url for r in rows}
            for row in rows:
                if row.url not in wanted:
                    session.delete(row)
            for url in wanted:
                if url not in have:
                    session.add(WebhookTargetRow(scope=scope, url=url, since=now()))
        return self.webhooks(scope)

    def webhooks(self, scope: str) -> list[WebhookTarget]:
        with self._session() as session:
            rows = session.scalars(
                select(WebhookTargetRow)
                .where(WebhookTargetRow.scope == scope)
                .order_by(WebhookTargetRow.since, WebhookTargetRow.url)
            ).all()
            return [
                WebhookTarget(scope=r.scope, url=r.url, since=_aware(r.since) or r.since)
                for r in rows
            ]

    def enqueue_deliveries(self, dataset_id: str) -> int:
        """One pending delivery per URL that should hear of this final version and has
        not yet; returns how many were added."""
        final = [s.value for s in FINAL]
        query = (
            select(DatasetRow.id, DatasetRow.name, DatasetRow.status, WebhookTargetRow.url)
            .select_from(DatasetRow)
            .join(WebhookTargetRow, self._targets_of_dataset())
            .where(DatasetRow.id == dataset_id, DatasetRow.status.in_(final))
        )
        return self._enqueue(query)

    def enqueue_missed(self, limit: int) -> int:
        """Deliveries for final versions recorded where no listener heard them (the
        reconciler, an API that was down), oldest first, at most `limit`."""
        final = [s.value for s in FINAL]
        query = (
            select(DatasetRow.id, DatasetRow.name, DatasetRow.status, WebhookTargetRow.url)
            .select_from(DatasetRow)
            .join(WebhookTargetRow, self._targets_of_dataset())
            .where(DatasetRow.status.in_(final))
            .order_by(DatasetRow.finished_at)
            .limit(limit)
        )
        return self._enqueue(query)

    @staticmethod
    def _targets_of_dataset() -> Any:
        """Targets that should hear of a version: its name's and every dataset's, for
        versions finished since they were configured, and not yet enqueued."""
        sent = exists().where(
            WebhookDeliveryRow.dataset_id == DatasetRow.id,
            WebhookDeliveryRow.url == WebhookTargetRow.url,
        )
        return (
            or_(WebhookTargetRow.scope == ALL_DATASETS, WebhookTargetRow.scope == DatasetRow.name)
            & DatasetRow.finished_at.is_not(None)
            & (DatasetRow.finished_at >= WebhookTargetRow.since)
            & ~sent
        )

    def _enqueue(self, query: Any) -> int:
        for _ in range(ENQUEUE_ATTEMPTS):
            try:
                with self._session() as session, session.begin():
                    found = session.execute(query).all()
                    # A URL both global and the dataset's own is told once.
                    pairs = {(r[0], r[3]): r for r in found}
                    at = now()
                    for (version_id, url), (_, name, status, _) in pairs.items():
                        session.add(
                            WebhookDeliveryRow(
                                dataset_id=version_id,
                                name=name or version_id,
                                url=url,
                                event=status,
                                state=DeliveryState.pending.value,
                                attempts=0,
                                next_attempt_at=at,
                                created_at=at,
                            )
                        )
                    return len(pairs)
            except IntegrityError:
                continue
        return 0

    def claim_deliveries(self, limit: int, lease_seconds: float) -> list[Delivery]:
        """Due pending deliveries, each taken for `lease_seconds` (its next attempt moved
        that far), so another replica sends it only if this one dies meanwhile."""
        at = now()
        lease = at + timedelta(seconds=lease_seconds)
        claimed = []
        with self._session() as session, session.begin():
            due = session.scalars(
                select(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.state == DeliveryState.pending.value,
                    WebhookDeliveryRow.next_attempt_at <= at,
                )
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
                .limit(limit)
            ).all()
            for row in due:
                taken = session.execute(
                    update(WebhookDeliveryRow)
                    .where(
                        WebhookDeliveryRow.id == row.id,
                        WebhookDeliveryRow.state == DeliveryState.pending.value,
                        WebhookDeliveryRow.next_attempt_at <= at,
                    )
                    .values(next_attempt_at=lease)
                    .execution_options(synchronize_session=False)
                )
                if getattr(taken, "rowcount", 0):
                    claimed.append(_to_delivery(row))
        return claimed

    def record_attempt(
        self,
        delivery_id: int,
        *,
        delivered: bool,
        status: int | None,
        error: str | None,
        retry_at: datetime | None,
    ) -> None:
        """One more attempt: delivered, to retry at `retry_at`, or (neither) failed."""
        if delivered:
            state, next_at, delivered_at = DeliveryState.delivered, None, now()
        elif retry_at is not None:
            state, next_at, delivered_at = DeliveryState.pending, retry_at, None
        else:
            state, next_at, delivered_at = DeliveryState.failed, None, None
        with self._session() as session, session.begin():
            session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery_id)
                .values(
                    attempts=WebhookDeliveryRow.attempts + 1,
                    state=state.value,
                    next_attempt_at=next_at,
                    delivered_at=delivered_at,
                    last_status=status,
                    last_error=error[:DELIVERY_ERROR_CHARS] if error else None,
                )
            )

    def deliveries(
        self,
        *,
        name: str | None = None,
        dataset_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Delivery], int]:
        """The delivery log of a dataset (`name`) or of one version, newest first."""
        query = select(WebhookDeliveryRow)
        if name is not None:
            query = query.where(WebhookDeliveryRow.name == name)
        if dataset_id is not None:
            query = query.where(WebhookDeliveryRow.dataset_id == dataset_id)
        with self._session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(WebhookDeliveryRow.id.desc()).offset(offset).limit(limit)
            ).all()
            return [_to_delivery(r) for r in rows], int(total)
