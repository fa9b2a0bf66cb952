"""`python -m api`: serve on the configured host and port (the embedded default)."""

from __future__ import annotations

from core.logs import configure_logging
from core.settings import Settings

from .server import serve


def main() -> None:
    settings = Settings()
    # One format for every logger, uvicorn's too: text for a terminal, or JSON lines
    # (MINI_LOG_FORMAT=json). Our middleware writes the access line (with the request id).
    configure_logging(settings.log_format.value, "api")
    # Bounded request lines and headers, a bounded graceful shutdown (api/server.py).
    serve(settings, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
