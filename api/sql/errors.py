"""How a query fails, each with its HTTP status (rendered by api/errors.py's handler)."""

from __future__ import annotations

from ..errors import BadRequest, ServiceError, ServiceUnavailable, Unprocessable


class SqlSyntaxError(BadRequest):
    code = "sql_syntax_error"


class SqlError(BadRequest):
    """DuckDB refused or failed the query: an unknown table or column, a bad cast..."""

    code = "sql_error"


class SqlForbidden(ServiceError):
    """Not a single read-only statement, or it reached for files, network or settings."""

    status_code = 403
    code = "sql_forbidden"


class SqlTimeout(Unprocessable):
    code = "sql_timeout"


class SqlTooLarge(Unprocessable):
    code = "sql_memory_limit"


class SqlBusy(ServiceUnavailable):
    code = "sql_busy"
