"""`python -m api`: serve on the configured host and port (the embedded default)."""

from __future__ import annotations

import logging

import uvicorn

from core.settings import Settings


def main() -> None:
    settings = Settings()
    # uvicorn configures only its own loggers; ours (runner launches, results) go here.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level="info",
    )


if __name__ == "__main__":
    main()
