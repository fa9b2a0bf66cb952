"""core/logs.py: the two formats MINI_LOG_FORMAT picks (README: For operators, Logs)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.logs import EventWriter, formatter, log_context


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, logging.Handler, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.core.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, handler, stream
    finally:
        logger.removeHandler(handler)


def test_text_lines_end_with_the_request_id_when_there_is_one(
    logged: tuple[logging.Logger, logging.Handler, io.StringIO],
) -> None:
    logger, handler, stream = logged
    handler.setFormatter(formatter("text", "api"))
    logger.info("no request here")
    with log_context(request_id="ticket-4711"):
        logger.info("upload %s stored", "abc")
    first, second = stream.getvalue().splitlines()
    assert first.endswith("INFO tests.core.logs: no request here")
    assert second.endswith("INFO tests.core.logs: upload abc stored [request_id=ticket-4711]")


def test_json_is_one_object_per_line_with_the_fields(
    logged: tuple[logging.Logger, logging.Handler, io.StringIO],
) -> None:
    logger, handler, stream = logged
    handler.setFormatter(formatter("json", "reconciler"))
    with log_context(request_id="r-1", dataset_id="d" * 32):
        logger.info("recorded\non two lines", extra={"fields": {"rows_out": 3}})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # a newline in the message or a traceback stays in its line
    first, second = (json.loads(line) for line in lines)
    assert first["ts"].endswith("+00:00") and first["level"] == "info"
    assert first["logger"] == "tests.core.logs" and first["component"] == "reconciler"
    assert first["event"] == "recorded\non two lines" and first["rows_out"] == 3
    assert first["request_id"] == "r-1" and first["dataset_id"] == "d" * 32
    assert second["level"] == "error" and "ValueError: boom" in second["exc"]


def test_the_processor_writer_carries_its_ids_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    EventWriter("json", "processor", request_id="r-2", dataset_id="e" * 32)(
        "ready", outcome="ready", rows_out=18
    )
    EventWriter("text", "processor", request_id="r-2")("ready as text")
    out = capsys.readouterr().out.splitlines()
    line = json.loads(out[0])
    assert (line["component"], line["request_id"], line["dataset_id"]) == (
        "processor",
        "r-2",
        "e" * 32,
    )
    assert line["outcome"] == "ready" and line["rows_out"] == 18
    assert out[1] == "ready as text"
