"""The local runner's side of the processor's fork server (processor/zygote.py).

A run through it costs a fork instead of a Python start and the processor's imports
(~0.6 s of a tiny file's total). Whenever the server cannot run a dataset (not started
yet, crashed, killed), `run` answers None and the runner starts the plain subprocess
instead; the server is restarted for the next runs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# The server's own command line is where each child writes its title
# (`python -m processor run --dataset-id ID`, see processor.zygote.set_title): it must
# be at least that long. Trailing blanks: invisible in ps.
TITLE_ROOM = " " * 96
# A server that died this soon after its start is not restarted again before then: a
# broken install would otherwise cost a Python start per upload on top of the subprocess.
RESTART_BACKOFF_SECONDS = 5.0


class ForkServer:
    def __init__(self, env: dict[str, str], preexec_fn: Callable[[], None]) -> None:
        self._env = env
        self._preexec_fn = preexec_fn
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._started_at = 0.0
        self._closed = False

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> None:
        """Start the server if it is not running; it warms up in the background."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> socket.socket | None:
        if self._closed:
            return None
        if self._proc is not None and self._proc.poll() is None and self._control is not None:
            return self._control
        if self._proc is not None:
            if time.monotonic() - self._started_at < RESTART_BACKOFF_SECONDS:
                return None
            code = self._proc.returncode
            log.warning("the processor fork server exited (%s); restarting it", code)
            self._drop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Its own output (a failed start) goes where the API's goes. Started by a
            # thread that lives as long as the runner (the API's main thread, or a pool
            # thread): PDEATHSIG follows that thread.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "processor.zygote", str(theirs.fileno()), TITLE_ROOM],
                env=self._env,
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                preexec_fn=self._preexec_fn,
            )
        except OSError:
            log.exception("cannot start the processor fork server")
            ours.close()
            return None
        finally:
            theirs.close()
        self._control = ours
        self._started_at = time.monotonic()
        return ours

    def _drop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()

    def run(
        self, argv: list[str], log_fd: int, started: Callable[[ForkedChild], None]
    ) -> int | None:
        """Run `python -m processor ARGV` in a forked child whose stdout and stderr are
        `log_fd`; its exit code, or None if the server could not run it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with ours:
            try:
                with self._lock:
                    control = self._ensure()
                    if control is None:
                        return None
                    socket.send_fds(
                        control, [json.dumps({"argv": argv}).encode()], [log_fd, theirs.fileno()]
                    )
            except OSError as exc:
                log.warning("the processor fork server is gone (%s)", exc)
                return None
            finally:
                theirs.close()
            answer = _receive(ours)
            if answer is None or "pid" not in answer:
                if answer is not None:
                    log.warning("the processor fork server refused: %s", answer.get("error"))
                return None
            child = ForkedChild(int(answer["pid"]), ours)
            started(child)
            return child.wait()


def _receive(sock: socket.socket) -> dict[str, Any] | None:
    """The server's next answer; None once it is gone (and so is the child: PDEATHSIG)."""
    try:
        data = sock.recv(4096)
    except OSError:
        return None
    if not data:
        return None
    answer: dict[str, Any] = json.loads(data)
    return answer


class ForkedChild:
    """A child of the fork server, as the runner sees a subprocess.Popen."""

    def __init__(self, pid: int, reply: socket.socket) -> None:
        self.pid = pid
        self._reply = reply
        self._code: int | None = None
        self._done = threading.Event()
        self._waiting = threading.Lock()
        self._lost = False

    @property
    def lost(self) -> bool:
        """Whether the server died before reporting the exit (the child died with it)."""
        return self._lost

    def wait(self, timeout: float | None = None) -> int | None:
        if self._waiting.acquire(blocking=False):
            try:
                if not self._done.is_set():
                    answer = _receive(self._reply)
                    if answer is None or not isinstance(answer.get("exit"), int):
                        self._lost = True
                    else:
                        self._code = int(answer["exit"])
                    self._done.set()
            finally:
                self._waiting.release()
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(["processor", str(self.pid)], timeout or 0)
        return self._code

    def _signal(self, signum: int) -> None:
        # Until the exit is reported the pid is the child's, or was reaped a moment
        # ago (the server answers right after waitpid): a window of microseconds.
        if not self._done.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    terminate = functools.partialmethod(_signal, signal.SIGTERM)
    kill = functools.partialmethod(_signal, signal.SIGKILL)
