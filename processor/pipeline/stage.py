"""Background pipeline stages: a thread that produces or consumes items, with a
bounded queue between it and the caller.

The heavy work of every stage (CSV parsing, compute kernels, numpy loops, Parquet
encoding, sha256) runs in C with the GIL released, so two cores are used while one
stage parses and another cleans or writes. The queues are short: memory holds a few
batches, never the file.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1


class StageError(Exception):
    """Wraps nothing: the worker's own exception is re-raised as is."""


class Producer(Generic[T]):
    """Runs ``produce`` (a generator function) in a thread; iterate to get its items.

    Leaving the ``with`` block early (an error downstream) stops the producer at its
    next item, so no thread outlives the pass.
    """

    def __init__(self, produce: Callable[[], Iterator[T]], depth: int = 2, name: str = "") -> None:
        self._produce = produce
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name or "producer", daemon=True)

    def __enter__(self) -> Producer[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        while self._thread.is_alive():
            # Unblock a producer waiting on a full queue.
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            self._thread.join(_POLL_S)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._produce():
                if not self._put(item):
                    return
        except BaseException as exc:
            self._error = exc
        self._put(_DONE)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                if self._error is not None:
                    raise self._error
                return
            yield item  # type: ignore[misc]


class Consumer(Generic[T]):
    """Runs ``consume(item)`` in a thread for every item given to ``put``, in order.

    An exception in ``consume`` is raised by the next ``put`` or by ``close``.
    """

    def __init__(self, consume: Callable[[T], None], depth: int = 2, name: str = "") -> None:
        self._consume = consume
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name or "consumer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is not None:
                continue  # drain without work, so put() never blocks forever
            try:
                self._consume(item)  # type: ignore[arg-type]
            except BaseException as exc:
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: T) -> None:
        self._raise()
        self._queue.put(item)

    def close(self) -> None:
        """Wait for every item to be consumed; raise the worker's error if any."""
        self._queue.put(_DONE)
        self._thread.join()
        self._raise()

    def abandon(self) -> None:
        """Stop without raising (the caller is already handling an error)."""
        self._error = self._error or StageError("abandoned")
        self._queue.put(_DONE)
        self._thread.join()
