"""The dataset catalog: SQLAlchemy 2 over SQLite by default, PostgreSQL by URL.

Status moves only forward (queued -> processing -> ready | failed); every
transition is one guarded UPDATE, so two writers can never both win.

The schema is owned by the Alembic migrations in `core/migrations/`;
`DatasetRow` must stay in step with them (a test compares the two).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic.util.exc import CommandError
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .migrations.apply import upgrade_to_head


class Status(StrEnum):
    queued = "queued"
    processing = "processing"
    ready = "ready"
    failed = "failed"


FINAL = frozenset({Status.ready, Status.failed})


class CatalogError(Exception):
    pass


class CatalogUnavailable(CatalogError):
    pass


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


@dataclass(frozen=True)
class Dataset:
    id: str
    filename: str
    raw_key: str
    sha256: str
    size_bytes: int
    status: Status
    error: str | None
    options: dict[str, Any]
    rows_in: int | None
    rows_out: int | None
    rows_rejected: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    name: str | None = None
    version: int | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


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
    )


# Each round of concurrent uploads under one name has a winner, so this bounds the
# number of uploads racing for the same name, not the time spent.
VERSION_ATTEMPTS = 32


def new_dataset_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


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


class Catalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Catalog:
        return cls(make_engine(url))

    def create_schema(self) -> None:
        """Migrate the database to the newest schema; safe when several replicas start at once."""
        try:
            upgrade_to_head(self.engine)
        except OperationalError as exc:
            raise CatalogUnavailable(str(exc)) from exc
        except (CommandError, SQLAlchemyError) as exc:
            raise CatalogError(f"catalog schema migration failed: {exc}") from exc

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
    ) -> Dataset:
        """Record a queued dataset; with a `name`, as that name's next version."""
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
                        row.version = self._next_version(session, name)
                    session.add(row)
            except IntegrityError as exc:
                if name is None or self.get(dataset_id) is not None:
                    raise CatalogError(f"could not record dataset: {exc}") from exc
                # A concurrent upload took this version number: count again.
                continue
            except SQLAlchemyError as exc:
                raise CatalogError(f"could not record dataset: {exc}") from exc
            return _to_dataset(row)
        raise CatalogError(
            f"could not assign a version of {name!r} in {VERSION_ATTEMPTS} attempts: "
            "too many concurrent uploads under that name"
        )

    @staticmethod
    def _next_version(session: Session, name: str) -> int:
        latest = session.scalar(select(func.max(DatasetRow.version)).where(DatasetRow.name == name))
        return int(latest or 0) + 1

    def next_version(self, name: str) -> int:
        """The version number the next upload under `name` would get (1 for a new name)."""
        with self._session() as session:
            return self._next_version(session, name)

    def versions(self, name: str) -> list[Dataset]:
        """Every version of `name`, oldest first, whatever its status."""
        with self._session() as session:
            rows = session.scalars(
                select(DatasetRow).where(DatasetRow.name == name).order_by(DatasetRow.version)
            ).all()
            return [_to_dataset(r) for r in rows]

    def latest_ready(self, name: str) -> Dataset | None:
        """The newest ready version: failed or unfinished newer ones never hide it."""
        with self._session() as session:
            row = session.scalars(
                select(DatasetRow)
                .where(DatasetRow.name == name, DatasetRow.status == Status.ready.value)
                .order_by(DatasetRow.version.desc())
                .limit(1)
            ).first()
            return _to_dataset(row) if row else None

    def get(self, dataset_id: str) -> Dataset | None:
        with self._session() as session:
            row = session.get(DatasetRow, dataset_id)
            return _to_dataset(row) if row else None

    def page(self, *, offset: int = 0, limit: int = 100) -> tuple[list[Dataset], int]:
        with self._session() as session:
            total = session.scalar(select(func.count()).select_from(DatasetRow)) or 0
            rows = session.scalars(
                select(DatasetRow)
                .order_by(DatasetRow.created_at.desc(), DatasetRow.id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
            return [_to_dataset(r) for r in rows], int(total)

    def with_status(self, statuses: Sequence[Status]) -> list[Dataset]:
        with self._session() as session:
            rows = session.scalars(
                select(DatasetRow)
                .where(DatasetRow.status.in_([s.value for s in statuses]))
                .order_by(DatasetRow.created_at)
            ).all()
            return [_to_dataset(r) for r in rows]

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

    def mark_processing(self, dataset_id: str) -> bool:
        """queued -> processing. A retried attempt may find it processing already."""
        return self._transition(
            dataset_id,
            [Status.queued, Status.processing],
            status=Status.processing.value,
            started_at=now(),
            attempts=DatasetRow.attempts + 1,
        )

    def requeue(self, dataset_id: str) -> bool:
        """processing -> queued, for work whose runner died; never from a final state."""
        return self._transition(
            dataset_id, [Status.processing], status=Status.queued.value, started_at=None
        )

    def mark_ready(
        self, dataset_id: str, *, rows_in: int, rows_out: int, rows_rejected: int
    ) -> bool:
        return self._transition(
            dataset_id,
            [Status.queued, Status.processing],
            status=Status.ready.value,
            error=None,
            rows_in=rows_in,
            rows_out=rows_out,
            rows_rejected=rows_rejected,
            finished_at=now(),
        )

    def mark_failed(self, dataset_id: str, error: str) -> bool:
        return self._transition(
            dataset_id,
            [Status.queued, Status.processing],
            status=Status.failed.value,
            error=error[:4000],
            finished_at=now(),
        )

    def delete(self, dataset_id: str) -> bool:
        with self._session() as session, session.begin():
            row = session.get(DatasetRow, dataset_id)
            if row is None:
                return False
            session.delete(row)
            return True
