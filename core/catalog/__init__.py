"""The catalog port (`base.Catalog`) and its SQL adapter (`sql.SqlCatalog`)."""

from .base import (
    DEFAULT_POLICY,
    FINAL,
    Catalog,
    CatalogError,
    CatalogUnavailable,
    Dataset,
    Family,
    SchemaPolicy,
    Status,
    new_dataset_id,
    now,
)
from .sql import (
    CLAIM_STALE_SECONDS,
    VERSION_ATTEMPTS,
    Base,
    DatasetNameRow,
    DatasetRow,
    SqlCatalog,
    make_engine,
)

__all__ = [
    "CLAIM_STALE_SECONDS",
    "DEFAULT_POLICY",
    "FINAL",
    "VERSION_ATTEMPTS",
    "Base",
    "Catalog",
    "CatalogError",
    "CatalogUnavailable",
    "Dataset",
    "DatasetNameRow",
    "DatasetRow",
    "Family",
    "SchemaPolicy",
    "SqlCatalog",
    "Status",
    "make_engine",
    "new_dataset_id",
    "now",
]
