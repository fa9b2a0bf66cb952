"""The OpenAPI schema says what the API really answers: the upload's request body, and
for each operation every status, content type and header it can send.

Routes stay plain; this one table adds what FastAPI cannot infer (answers built as
`Response` objects, errors raised as exceptions that carry their status, and the
statuses the HTTP layer sends before a route runs). `tests/api/test_openapi.py` runs
schemathesis against the live app: no server error, no answer the schema does not
describe.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
JSON_OBJECT = {"type": "object"}


def _header(description: str, schema_type: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": schema_type}}


RETRY_AFTER = {"Retry-After": _header("seconds to wait before trying again", "integer")}
LOCATION = {"Location": _header("the new version's URL")}
IDENTITY = {
    "X-Dataset-Name": _header("the dataset's name"),
    "X-Dataset-Version": _header("the version served", "integer"),
    "X-Dataset-Version-Id": _header("the version's id"),
}
ETAG = {"ETag": _header("the version and the query"), "Cache-Control": _header("no-cache")}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _json(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": JSON_OBJECT}},
    }
    if headers:
        answer["headers"] = headers
    return answer


# What every operation may answer before its route runs (api/server.py, api/auth.py).
HTTP_LAYER = {
    "400": _error("malformed request (HTTP framing, multipart body)"),
    "414": _error("request URL longer than MINI_MAX_URL_BYTES"),
    "431": _error("request headers larger than MINI_MAX_HEADER_BYTES"),
}
KEYS = {"401": _error("MINI_API_KEYS is set and no valid key or session was sent")}
UNAVAILABLE = {
    "503": _error("object storage or the catalog is unreachable", RETRY_AFTER),
}
PENDING = _json("the version is queued or processing", {**RETRY_AFTER, **IDENTITY})
FAILED = _error("the version failed; the error says why")
NOT_FOUND = _error("no dataset with that name, no version with that id or number")
INVALID = _error("a parameter is out of range, unknown or does not fit the column's type")
DEADLINE = _error(
    "storage or catalog unavailable, or the work ran past MINI_REQUEST_TIMEOUT_SECONDS",
    RETRY_AFTER,
)

PER_DATASET = {"404": NOT_FOUND, "422": INVALID, **UNAVAILABLE}
DATA = {"202": PENDING, "409": FAILED, "503": DEADLINE}

SQL_RESULT = {
    "type": "object",
    "required": ["columns", "rows", "row_count", "truncated", "limit", "datasets"],
    "properties": {
        "columns": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
            },
        },
        "rows": {"type": "array", "items": {"type": "array"}},
        "row_count": {"type": "integer"},
        "truncated": {"type": "boolean"},
        "limit": {"type": "integer"},
        "datasets": {"type": "array", "items": {"type": "object"}},
        "elapsed_ms": {"type": "number"},
    },
}
SQL_ANSWERS = {
    "200": {
        "description": "the result's first `limit` rows",
        "headers": {
            "X-Result-Truncated": _header("true when the result had more rows than `limit`"),
            "Content-Disposition": _header("with download=true: attachment; filename=..."),
        },
        "content": {
            "application/json": {"schema": SQL_RESULT},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    "400": _error("a syntax error, or DuckDB refused the query (an unknown table or column...)"),
    "403": _error("not one SELECT statement, or it reached for files, network or settings"),
    "404": _error('"name@N" names a version that does not exist'),
    "422": _error(
        "an invalid parameter, or the query ran past MINI_SQL__TIMEOUT_SECONDS or "
        "MINI_SQL__MEMORY_LIMIT_BYTES and was stopped"
    ),
    "503": _error(
        "MINI_SQL__MAX_CONCURRENT queries are running, or the catalog is unreachable",
        RETRY_AFTER,
    ),
}

RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/upload"): {
        "202": _json("stored and queued for processing", {**LOCATION, **IDENTITY}),
        "408": _error(
            "the body stalled (MINI_UPLOAD_IDLE_TIMEOUT_SECONDS) or arrived slower than "
            "MINI_UPLOAD_MIN_BYTES_PER_SECOND; nothing was stored"
        ),
        "413": _error("larger than MINI_MAX_UPLOAD_BYTES"),
        "415": _error("not multipart/form-data or text/csv, or binary content"),
        "422": _error("empty body or file, no `file` field, an invalid option or name"),
        "503": _error(
            "MINI_MAX_CONCURRENT_UPLOADS uploads are running, the server is shutting down, "
            "or storage or the catalog is unreachable",
            RETRY_AFTER,
        ),
        "507": _error("the object store is (nearly) full: MINI_MIN_FREE_BYTES", RETRY_AFTER),
    },
    ("get", "/datasets"): {"422": INVALID, **UNAVAILABLE},
    ("get", "/datasets/{dataset_id}"): {
        "200": _json("a page of rows", {**ETAG, **IDENTITY}),
        "304": {"description": "If-None-Match matched the ETag", "headers": ETAG},
        **PER_DATASET,
        **DATA,
    },
    ("get", "/datasets/{dataset_id}/download"): {
        "200": {
            "description": "the whole result, streamed",
            "headers": {
                "Content-Disposition": _header("attachment; filename=..."),
                **IDENTITY,
            },
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        },
        **PER_DATASET,
        **DATA,
    },
    ("get", "/datasets/{dataset_id}/columns/{name}/stats"): {
        "200": _json("the column's histogram or top values", IDENTITY),
        **PER_DATASET,
        **DATA,
    },
    ("get", "/datasets/{dataset_id}/versions"): {
        "200": _json("every version", IDENTITY),
        **PER_DATASET,
    },
    ("get", "/datasets/{dataset_id}/status"): {
        "200": _json("the version's state", IDENTITY),
        **PER_DATASET,
    },
    ("get", "/datasets/{dataset_id}/report"): {
        "200": _json("the processor's report", IDENTITY),
        "202": PENDING,
        **PER_DATASET,
    },
    ("get", "/datasets/{dataset_id}/rejects"): {
        "200": _json("the quarantined rows, paged", IDENTITY),
        "202": PENDING,
        **PER_DATASET,
    },
    ("get", "/datasets/{dataset_id}/logs"): {
        "200": {
            "description": "the last lines the processor printed",
            "headers": IDENTITY,
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        "202": PENDING,
        **PER_DATASET,
    },
    ("post", "/datasets/{dataset_id}/reprocess"): {
        "202": _json("a new version, queued", {**LOCATION, **IDENTITY}),
        "409": _error("that version's uploaded file is gone"),
        **PER_DATASET,
    },
    ("patch", "/datasets/{dataset_id}"): {
        "200": _json("the dataset's metadata, changed", IDENTITY),
        "422": _error("an invalid field, or descriptions of columns no version has"),
        **UNAVAILABLE,
        "404": NOT_FOUND,
    },
    ("get", "/datasets/{dataset_id}/metadata"): {
        "200": _json("the dataset's metadata", IDENTITY),
        **PER_DATASET,
    },
    ("delete", "/datasets/{dataset_id}"): {
        "204": {
            "description": "deleted: objects, then catalog rows (by name: X-Dataset-Name only)",
            "headers": IDENTITY,
        },
        "409": _error("a targeted version is queued or processing", RETRY_AFTER),
        **PER_DATASET,
    },
    ("get", "/sql"): SQL_ANSWERS,
    ("post", "/sql"): SQL_ANSWERS,
    ("get", "/readyz"): {
        "503": _error(
            "storage or catalog unreachable, or free space under MINI_MIN_FREE_BYTES",
            RETRY_AFTER,
        )
    },
}

UPLOAD_BODY = {
    "description": "the CSV file: a multipart form field `file`, or the raw body",
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
    },
}
# The name the docs (and the schemathesis test, which uploads it) use as an example.
EXAMPLE_DATASET = "sales"
# Probes and metrics answer without a key (api/auth.py).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def describe(schema: dict[str, Any]) -> dict[str, Any]:
    """Add what the routes do not declare to a generated schema (in place, and returned)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            extra = RESPONSES.get((method, path), {})
            for status, answer in {**HTTP_LAYER, **extra}.items():
                responses[status] = answer
            if path not in OPEN_PATHS:
                responses.update(KEYS)
            if "422" in responses and "422" not in extra:
                # FastAPI's own validation body is replaced by ours (api/errors.py).
                responses["422"] = INVALID
            if (method, path) == ("post", "/upload"):
                operation["requestBody"] = UPLOAD_BODY
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "dataset_id":
                    parameter["description"] = "a dataset's name, or a version's id"
                    parameter["example"] = EXAMPLE_DATASET
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
