"""Release work on several threads at the same instant, to provoke races."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
TIMEOUT = 60.0


def race(count: int, work: Callable[[int], T], timeout: float = TIMEOUT) -> list[T]:
    """Run work(0..count-1) on threads released together; re-raise the first failure.

    A deadlock fails the test after `timeout` instead of hanging the run.
    """
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results.append(work(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        raise AssertionError(f"{stuck} of {count} threads still running after {timeout}s")
    if errors:
        raise errors[0]
    return results
