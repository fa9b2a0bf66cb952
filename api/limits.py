"""Capacity that cannot be exhausted: the upload gate, body timeouts and read deadlines.

- Uploads hold a slot of `UploadGate` (MINI_MAX_CONCURRENT_UPLOADS) for their whole
  body; beyond it they are refused at once with 503 + Retry-After. They run on the
  gate's own thread limiter, so slow uploads never take the worker threads reads use.
- `timed_body` pulls the request body with an idle timeout and a minimum average
  rate; a body that stalls or trickles is aborted with 408 (the store then removes
  what it had written).
- `bounded` runs a read's work in a worker thread under a `Deadline` that expires
  after MINI_REQUEST_TIMEOUT_SECONDS or when the client disconnects; the work checks
  it between row groups (`check_deadline`) and stops.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import anyio
import anyio.from_thread
from starlette.requests import Request

from .errors import DeadlineExceeded, RequestTimeout, ServiceUnavailable

T = TypeVar("T")
UPLOAD_RETRY_AFTER = "5"
POLL_SECONDS = 0.25


class UploadGate:
    """At most `slots` uploads at once, on `slots` threads of their own."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.active = 0
        self._lock = threading.Lock()
        self.limiter = anyio.CapacityLimiter(slots)
        # Set at shutdown, after the grace period: bodies still arriving are aborted.
        self.closing = threading.Event()

    async def drain(self, timeout: float) -> None:
        """Abort the uploads still running and wait (bounded) until each has cleaned up."""
        self.closing.set()
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            await anyio.sleep(0.05)

    def admit(self) -> Callable[[], None]:
        """Take a slot (503 + Retry-After when none is free); the returned function
        gives it back, once, however often it is called."""
        with self._lock:
            if self.active >= self.slots:
                raise ServiceUnavailable(
                    f"too many uploads at once (MINI_MAX_CONCURRENT_UPLOADS={self.slots}); "
                    "retry shortly",
                    headers={"Retry-After": UPLOAD_RETRY_AFTER},
                )
            self.active += 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if not released:
                    released = True
                    self.active -= 1

        return release

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` on the gate's own threads, holding a slot until the thread is done:
        a request cancelled at shutdown keeps its slot until its thread has cleaned up."""
        release = self.admit()
        started = False

        def in_thread() -> T:
            nonlocal started
            started = True
            try:
                return work()
            finally:
                release()

        try:
            return await anyio.to_thread.run_sync(in_thread, limiter=self.limiter)
        finally:
            if not started:
                release()


def timed_body(
    body: AsyncIterator[bytes],
    idle_seconds: float,
    min_rate: int,
    window_seconds: float,
    closing: threading.Event | None = None,
) -> Iterator[bytes]:
    """The request body's chunks, pulled from a worker thread; 408 when it stalls or
    trickles, 503 when the server shuts down (`closing`) before it is complete."""

    def check_closing() -> None:
        if closing is not None and closing.is_set():
            raise ServiceUnavailable(
                "the server is shutting down; the upload was aborted, retry it",
                headers={"Retry-After": UPLOAD_RETRY_AFTER},
            )

    async def next_chunk() -> bytes | None:
        # One task per chunk, waited for in short steps: waiting never cancels it, so the
        # body stream stays intact, and a shutdown is seen within POLL_SECONDS.
        task = asyncio.ensure_future(body.__anext__())
        waited = 0.0
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
                if done:
                    try:
                        return task.result()
                    except StopAsyncIteration:
                        return None
                waited += POLL_SECONDS
                check_closing()
                if waited >= idle_seconds:
                    raise RequestTimeout(
                        f"no data received for {idle_seconds:g} s; the upload was aborted "
                        "(MINI_UPLOAD_IDLE_TIMEOUT_SECONDS)"
                    )
        finally:
            if not task.done():
                task.cancel()

    started = time.monotonic()
    received = 0
    while True:
        check_closing()
        chunk = anyio.from_thread.run(next_chunk)
        if chunk is None:
            return
        received += len(chunk)
        elapsed = time.monotonic() - started
        if min_rate and elapsed > window_seconds and received < min_rate * elapsed:
            raise RequestTimeout(
                f"the upload arrived at {received / elapsed:.0f} bytes/s, below the minimum of "
                f"{min_rate} bytes/s (MINI_UPLOAD_MIN_BYTES_PER_SECOND); it was aborted"
            )
        if chunk:
            yield chunk


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.gone = False

    def check(self) -> None:
        if self.gone:
            # Nobody is listening any more; the answer is never sent.
            raise DeadlineExceeded("the client disconnected; the work was stopped")
        if time.monotonic() > self.expires:
            raise DeadlineExceeded(
                f"the request took longer than {self.seconds:g} s (MINI_REQUEST_TIMEOUT_SECONDS) "
                "and was stopped; narrow it (columns, filters, limit)",
                headers={"Retry-After": "5"},
            )


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "mini_deadline", default=None
)


def check_deadline() -> None:
    """Called by long work between row groups: stops it past its deadline or client."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check()


async def bounded(request: Request, seconds: float, work: Callable[[], T]) -> T:
    """`work()` in a worker thread, stopped at the deadline or when the client leaves."""
    deadline = Deadline(seconds)

    def run() -> T:
        token = _current.set(deadline)
        try:
            return work()
        finally:
            _current.reset(token)

    async def watch(scope: anyio.CancelScope) -> None:
        while not scope.cancel_called:
            if await request.is_disconnected():
                deadline.gone = True
                return
            await anyio.sleep(0.2)

    return await watched(run, watch)


async def watched(
    work: Callable[[], T], watch: Callable[[anyio.CancelScope], Coroutine[Any, Any, None]]
) -> T:
    """`work()` in a worker thread while `watch(scope)` runs beside it; the watcher is
    cancelled when the work ends, and the work's exception is raised as it is."""
    failure: Exception | None = None
    done: list[T] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch, tg.cancel_scope)
        try:
            done.append(await anyio.to_thread.run_sync(work))
        except Exception as exc:
            # Raised outside the task group, so it is not wrapped in an ExceptionGroup.
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return done[0]
