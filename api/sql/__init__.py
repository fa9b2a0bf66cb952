"""Read-only SQL over the datasets, executed by DuckDB (README: SQL)."""
