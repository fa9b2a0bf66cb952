"""`python -m api`: serve on the configured host and port (the embedded default)."""

from __future__ import annotations

import uvicorn

from core.logs import configure_logging
from core.settings import Settings


def main() -> None:
    settings = Settings()
    # One format for every logger, uvicorn's too: text for a terminal, or JSON lines
    # (MINI_LOG_FORMAT=json). Our middleware writes the access line (with the request id).
    configure_logging(settings.log_format.value, "api")
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
