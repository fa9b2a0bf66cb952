"""`python -m processor.zygote FD`: a fork server for the local runner.

Started once by the API's local runner, it imports the processor (about 0.5 s of a
tiny file's 0.6 s) and then forks one fresh child per dataset, which runs exactly what
`python -m processor run ...` would: the same `main`, environment, exit codes and
output. Each dataset still has a process of its own: a crash, a segfault or an
`os._exit` in one child touches nothing else.

The runner talks over FD, one end of a SOCK_SEQPACKET socket pair. A request is a JSON
message {"argv": [...]} (the arguments after `python -m processor`) with two file
descriptors attached: the dataset's log file, which becomes the child's stdout and
stderr, and a reply socket, on which this server sends {"pid": N} once the child is
forked and {"exit": code} when it has ended (code as subprocess reports it: negative
for a signal), or {"error": ...} if it could not fork one. An end of file on FD means
the runner is gone: the server exits, and its children with it.

Forking is safe because no Python thread but the main one ever runs here: the server
imports modules but never processes anything (pyarrow starts its thread pools at the
first computation), and it checks before each fork that nothing started a thread since
it warmed up. The imports do leave two native threads: OpenBLAS's pool (numpy) and
jemalloc's background thread (pyarrow). Both libraries take their locks around a fork
with pthread_atfork handlers and start their threads anew in the child, which is what
makes multiprocessing's fork work with them too.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

PR_SET_PDEATHSIG = 1
MAX_REQUEST = 1 << 20
# Imported up front; everything else a run needs is imported by these.
WARM_MODULES = (
    "processor.__main__",
    "processor.run",
    "processor.pipeline.process",
    "core.storage.factory",
    "core.storage.local",
)
# pyarrow imports it at its first date conversion, when it is installed.
OPTIONAL_MODULES = ("dateutil.relativedelta",)


def _die_with(parent: int) -> None:
    """SIGKILL when the server dies, as the server dies with the API (the runner sets
    that up), so that killing the API, even with SIGKILL, ends every processor."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)  # the parent died before prctl


def warm_up() -> None:
    """Import what a run needs, and compute what every run computes the same way."""
    from processor.nopandas import without_pandas

    # Before any pa.array: pyarrow would import pandas there (processor/nopandas.py).
    without_pandas()
    for name in WARM_MODULES:
        importlib.import_module(name)
    for name in OPTIONAL_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from core.settings import StorageBackend
    from processor.__main__ import _parser, prebuild_settings

    _parser()
    if prebuild_settings().storage.backend == StorageBackend.s3:
        importlib.import_module("core.storage.s3")
    from processor.pipeline.version import processor_version

    processor_version()


# Columns of each shape inference tries, so that the kernels and tables pyarrow builds
# at their first use (case mapping, date parsing) are built once here: ≈ 3 ms of the
# ≈ 50 ms of CPU a child spends on a tiny file.
SAMPLES = (
    ["1", "-2", "3"],
    ["1.5", "2,5", "1.234,5"],
    ["2024-01-31", "2024-02-01T10:00:00", None],
    ["31/01/2024", "1.2.24", "2024/01/31 13:45"],
    ["5 Mar 2024", "1. März 2024", "mars 2024"],
    ["yes", "NÃO", "true"],
    ["R$ 1.234,56", "(12%)", "1e3"],
    ["a", "b c", ""],
)


def warm_kernels() -> None:
    """Run inference over SAMPLES. pyarrow runs these kernels on the calling thread; the
    caller checks that no thread appeared."""
    import pyarrow as pa

    from processor.pipeline.infer import ColumnStats, accumulate

    for values in SAMPLES:
        accumulate(ColumnStats(), pa.array(values, pa.string()))


def set_title(args: list[str]) -> None:
    """Show `python -m processor run --dataset-id ID` in ps for a child, as a process
    started by the runner would (operators and the crash tests look for it).

    The kernel reads the command line from the memory of the original argv: the new
    one is written there, cut to the room the server's own argv left (the runner
    gives it room to spare).
    """
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        # Fields 48 and 49 of stat(5), counted from 1; the split starts at field 3.
        start, end = int(fields[45]), int(fields[46])
    except (OSError, ValueError, IndexError):
        return
    room = end - start
    if room <= 1:
        return
    title = b"\0".join(a.encode("utf-8", "replace") for a in args)[: room - 1]
    ctypes.memmove(start, title.ljust(room, b"\0"), room)


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter does with a SystemExit at the top."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def child(argv: list[str], log_fd: int, server: int) -> None:
    """In the forked child: become `python -m processor ARGV`, then exit. Never returns."""
    code = 1
    try:
        _die_with(server)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        set_title([sys.executable, "-m", "processor", *argv[:3]])
        from processor import __main__ as cli

        sys.argv = [cli.__file__ or "-m", *argv]
        code = cli.main(argv)
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        # os._exit skips the interpreter's shutdown, which would run the server's
        # handlers too; the run's own work is done, so only the output is flushed.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


class Server:
    def __init__(self, control: socket.socket, native_threads: int) -> None:
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.selector.register(control, selectors.EVENT_READ, None)
        # pidfd -> (pid, reply socket)
        self.children: dict[int, tuple[int, socket.socket]] = {}
        # What the imports left (see the module's docstring); never more at a fork.
        self.native_threads = native_threads

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data is None:
                    if not self.request():
                        return
                else:
                    self.reap(int(key.fd), *key.data)

    def request(self) -> bool:
        """Serve one request from the runner; False once the runner is gone."""
        try:
            message, fds, _, _ = socket.recv_fds(self.control, MAX_REQUEST, 2)
        except ConnectionError:
            return False
        if not message and not fds:
            return False
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return True
        log_fd, reply_fd = fds
        reply = socket.socket(fileno=reply_fd)
        try:
            argv = json.loads(message)["argv"]
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ValueError("argv must be a list of strings")
            self.fork(argv, log_fd, reply)
        except Exception as exc:
            self.answer(reply, {"error": f"{type(exc).__name__}: {exc}"})
            reply.close()
        finally:
            os.close(log_fd)
        return True

    def fork(self, argv: list[str], log_fd: int, reply: socket.socket) -> None:
        if threading.active_count() != 1 or _threads() > self.native_threads:
            # A thread holding a lock at fork time would leave it held in the child.
            raise RuntimeError("the fork server started threads; forking is not safe")
        server = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            # The child keeps only its log: not the runner's socket, nor the others'.
            self.selector.close()
            self.control.close()
            reply.close()
            for pidfd, (_, other) in self.children.items():
                os.close(pidfd)
                other.close()
            child(argv, log_fd, server)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (pid, reply)
        self.selector.register(pidfd, selectors.EVENT_READ, (pid, reply))
        self.answer(reply, {"pid": pid})

    def reap(self, pidfd: int, pid: int, reply: socket.socket) -> None:
        _, status = os.waitpid(pid, 0)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        del self.children[pidfd]
        self.answer(reply, {"exit": os.waitstatus_to_exitcode(status)})
        reply.close()

    @staticmethod
    def answer(reply: socket.socket, body: dict[str, Any]) -> None:
        # OSError: that runner thread gave up waiting; there is no one else to tell.
        with contextlib.suppress(OSError):
            reply.send(json.dumps(body).encode())


def main(argv: list[str]) -> int:
    if len(argv) < 1 or not argv[0].isdigit():
        print("usage: python -m processor.zygote FD", file=sys.stderr)
        return 2
    control = socket.socket(fileno=int(argv[0]))
    try:
        # Children are followed by pidfd (Linux 5.3): a kernel without it gets the
        # subprocess path, not a child forked and then lost track of.
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError) as exc:
        print(f"processor fork server: no pidfd ({exc}); not starting", file=sys.stderr)
        return 3
    warm_up()
    threads = _threads()
    warm_kernels()
    # Objects made so far are never freed: keeping the collector off them keeps their
    # pages shared with the children instead of copied at the children's first collection.
    gc.freeze()
    Server(control, threads).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
