"""Logging for every component: plain text or JSON lines, with the request id.

One request id follows an upload from the HTTP request (``X-Request-ID``, honoured or
generated) through the runner (the dataset's options carry it) into the processor's
log lines and the Kubernetes Job's labels and annotations. ``MINI_LOG_FORMAT=json``
writes one JSON object per line: ``ts``, ``level``, ``logger``, ``component``,
``event`` (the message), ``request_id``, ``dataset_id`` when known, and any extra
fields passed with ``extra={"fields": {...}}``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
# What a client may send as its own id: printable, no spaces, bounded.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("mini_request_id", default=None)
dataset_id_var: ContextVar[str | None] = ContextVar("mini_dataset_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The client's id when it is a sane token, else a new one."""
    if value and _CLIENT_ID.match(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


@contextmanager
def log_context(request_id: str | None = None, dataset_id: str | None = None) -> Iterator[None]:
    """Log records inside carry these ids (only the ones given change)."""
    tokens = []
    if request_id is not None:
        tokens.append((request_id_var, request_id_var.set(request_id)))
    if dataset_id is not None:
        tokens.append((dataset_id_var, dataset_id_var.set(dataset_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "component": self.component,
            "event": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        dataset_id = getattr(record, "dataset_id", None) or dataset_id_var.get()
        if dataset_id:
            line["dataset_id"] = dataset_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        return f"{text} [request_id={request_id}]" if request_id else text


def formatter(fmt: str, component: str) -> logging.Formatter:
    return JsonFormatter(component) if fmt == "json" else TextFormatter()


def configure_logging(fmt: str, component: str, level: int = logging.INFO) -> None:
    """The root logger writes to stderr in `fmt` ("text" or "json"); uvicorn's loggers
    go through it too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt, component))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces each of its plugins at INFO at every start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


class EventWriter:
    """Lines for a process whose output is its log (the processor): text as it always
    was, or one JSON object per line with the ids when the format is "json"."""

    def __init__(
        self,
        fmt: str,
        component: str,
        request_id: str | None = None,
        dataset_id: str | None = None,
    ) -> None:
        self.json = fmt == "json"
        self.component = component
        self.request_id = request_id
        self.dataset_id = dataset_id

    def __call__(self, text: str, *, level: str = "info", **fields: Any) -> None:
        stream = sys.stderr if level == "error" else sys.stdout
        if not self.json:
            print(f"error: {text}" if level == "error" else text, file=stream, flush=True)
            return
        line: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "logger": self.component,
            "component": self.component,
            "event": text,
        }
        if self.request_id:
            line["request_id"] = self.request_id
        if self.dataset_id:
            line["dataset_id"] = self.dataset_id
        line.update(fields)
        print(json.dumps(line, default=str, ensure_ascii=False), file=stream, flush=True)
