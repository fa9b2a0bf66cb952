"""Where a cold `python -m processor run` spends its time, from its process's start to
its last log line: the fields that line carries in JSON (`timing`), which the real-node
test reads from the pod's log.

* ``age_s``: seconds since the kernel started this process (``/proc/self/stat``, in
  clock ticks of 10 ms); in a pod that is from runc's init, before the interpreter.
* ``before_processor_s``: of that, the time before the ``processor`` package began to
  import (runc's setup, the interpreter's start, ``site``).
* ``phases_s`` and ``phases_cpu_s``: wall and CPU seconds of each phase, in order:
  ``imports`` (the processor's modules, pyarrow, pydantic...), ``settings``,
  ``store`` (the S3 client), ``check`` (an earlier result? the upload there?),
  ``process`` (reading the upload as it streams in, cleaning, writing Parquet),
  ``publish`` (the outputs, then the result manifest), ``catalog`` when there is one.
* ``store_s`` and ``store_calls``: time and count per object-store call (``open`` is
  the GET up to its headers; a tiny body comes with them; ``put_bytes`` is the manifest).
* ``cpu_s``: user + system CPU of the whole process so far (getrusage), which the
  machine's other load does not stretch the way it stretches wall time.
* ``gc_frozen``: objects the imports made that the cycle collector no longer scans
  (processor/coldstart.py; 0 when the process was not a cold run).
"""

from __future__ import annotations

import gc
import os
import resource
import time
from collections.abc import Callable
from typing import Any, cast

from core.storage import ObjectStore

_TICKS = os.sysconf("SC_CLK_TCK")


def process_age() -> float | None:
    """Seconds since the kernel started this process, or None without /proc."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            stat = fh.read()
        # Field 22 (starttime, clock ticks after boot); the name, field 2, may hold spaces.
        start_ticks = int(stat.rsplit(b")", 1)[1].split()[19])
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / _TICKS)
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timeline:
    """Phases marked as they end; `started` is (perf_counter, process_time) at the
    start of the first one (processor.STARTED: when the package began to import)."""

    def __init__(self, started: tuple[float, float] | None = None) -> None:
        self.started = started or (time.perf_counter(), time.process_time())
        self._last = self.started
        self.phases: dict[str, tuple[float, float]] = {}
        self.store_seconds: dict[str, float] = {}
        self.store_calls: dict[str, int] = {}

    def mark(self, phase: str) -> None:
        now = (time.perf_counter(), time.process_time())
        wall, cpu = self.phases.get(phase, (0.0, 0.0))
        self.phases[phase] = (wall + now[0] - self._last[0], cpu + now[1] - self._last[1])
        self._last = now

    def timed(self, store: ObjectStore) -> ObjectStore:
        """`store`, its calls counted and timed."""
        return cast(ObjectStore, _TimedStore(store, self))

    def fields(self) -> dict[str, Any]:
        """The `timing` field of the run's last log line."""
        age = process_age()
        since_import = time.perf_counter() - self.started[0]
        timing: dict[str, Any] = {
            "age_s": None if age is None else round(age, 3),
            "before_processor_s": None if age is None else round(max(0.0, age - since_import), 3),
            "since_import_s": round(since_import, 4),
            "cpu_s": round(cpu_seconds(), 4),
            "gc_frozen": gc.get_freeze_count(),
            "phases_s": {k: round(w, 4) for k, (w, _) in self.phases.items()},
            "phases_cpu_s": {k: round(c, 4) for k, (_, c) in self.phases.items()},
            "store_s": {k: round(v, 4) for k, v in self.store_seconds.items()},
            "store_calls": dict(self.store_calls),
        }
        return {"timing": timing}


class _TimedStore:
    def __init__(self, store: ObjectStore, timeline: Timeline) -> None:
        self._store = store
        self._timeline = timeline

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr
        return self._wrap(name, attr)

    def _wrap(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        timeline = self._timeline

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent = time.perf_counter() - began
                timeline.store_seconds[name] = timeline.store_seconds.get(name, 0.0) + spent
                timeline.store_calls[name] = timeline.store_calls.get(name, 0) + 1

        return timed
