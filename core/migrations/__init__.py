"""The catalog's Alembic migrations, packaged so both images carry them.

The API applies them at start (`Catalog.create_schema`); `python -m
core.migrations` is Alembic's command line for writing new ones.
"""
