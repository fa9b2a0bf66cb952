"""api/limits.py on its own: a read's work stops at its deadline and when its client
leaves, and the upload gate never gives out more slots than it has."""

from __future__ import annotations

import time

import anyio
import pytest

from api.errors import DeadlineExceeded, ServiceUnavailable
from api.limits import UploadGate, bounded, check_deadline

WORK_LIMIT_S = 10.0


class FakeRequest:
    """Only what `bounded` asks of a request: whether its client is gone."""

    def __init__(self, leaves_after: float | None) -> None:
        self.leaves_at = None if leaves_after is None else time.monotonic() + leaves_after

    async def is_disconnected(self) -> bool:
        return self.leaves_at is not None and time.monotonic() >= self.leaves_at


def long_work() -> int:
    """Ten seconds of row groups, unless the deadline stops it."""
    steps = 0
    end = time.monotonic() + WORK_LIMIT_S
    while time.monotonic() < end:
        check_deadline()
        time.sleep(0.01)
        steps += 1
    return steps


def run_bounded(request: FakeRequest, seconds: float) -> tuple[float, BaseException | None]:
    async def main() -> None:
        await bounded(request, seconds, long_work)  # type: ignore[arg-type]

    start = time.monotonic()
    try:
        anyio.run(main)
    except BaseException as exc:
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


def test_work_stops_when_the_client_leaves() -> None:
    took, error = run_bounded(FakeRequest(leaves_after=0.3), seconds=60)
    assert isinstance(error, DeadlineExceeded), error
    assert "disconnected" in error.message
    assert took < 2.0


def test_work_stops_at_its_deadline() -> None:
    took, error = run_bounded(FakeRequest(leaves_after=None), seconds=0.3)
    assert isinstance(error, DeadlineExceeded), error
    assert "MINI_REQUEST_TIMEOUT_SECONDS" in error.message
    assert error.headers == {"Retry-After": "5"}
    assert took < 2.0


def test_work_within_its_deadline_returns_its_result() -> None:
    async def main() -> int:
        return await bounded(FakeRequest(None), 5, lambda: 42)  # type: ignore[arg-type]

    assert anyio.run(main) == 42


def test_the_gate_refuses_beyond_its_slots_and_gives_them_back() -> None:
    gate = UploadGate(2)
    first, second = gate.admit(), gate.admit()
    with pytest.raises(ServiceUnavailable) as refused:
        gate.admit()
    assert refused.value.headers == {"Retry-After": "5"}
    first()
    first()  # giving back twice frees one slot only
    third = gate.admit()
    with pytest.raises(ServiceUnavailable):
        gate.admit()
    second()
    third()
    assert gate.active == 0
