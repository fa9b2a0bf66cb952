"""`python -m core.migrations <alembic command>`: Alembic's CLI on the packaged scripts.

For writing migrations, e.g. `revision --autogenerate -m "..."` against a
database at head (MINI_DATABASE_URL, default the embedded SQLite catalog).
The service itself needs none of this: it upgrades at start.
"""

from __future__ import annotations

import sys

from alembic.config import CommandLine

from .apply import alembic_config


def main(argv: list[str] | None = None) -> None:
    cli = CommandLine(prog="python -m core.migrations")
    options = cli.parser.parse_args(argv if argv is not None else sys.argv[1:])
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(), options)


if __name__ == "__main__":
    main()
