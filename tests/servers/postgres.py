"""A real PostgreSQL server for tests: Debian's `postgresql` package, one throwaway cluster.

`initdb` writes a cluster into a temp dir; `postgres` serves it on a free loopback
port with password (SCRAM) authentication over TCP and its Unix socket in the same
temp dir, so nothing touches the system cluster or /var/run/postgresql. Durability
is switched off (fsync, synchronous_commit): the data is thrown away afterwards.

When no server binaries are found, Debian's package is installed with apt-get.
initdb and postgres refuse to run as root, so under root they run as the
`postgres` user that package creates.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from .process import die_with_parent, free_ports

PG_ROOT = Path("/usr/lib/postgresql")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SYSTEM_USER = "postgres"
# invoke-rc.d consults this: exit 101 means "do not start services". Without it the
# package's postinst starts the distribution's own cluster on port 5432.
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def _find_bindir() -> Path | None:
    def major(bindir: Path) -> int:
        name = bindir.parent.name
        return int(name) if name.isdigit() else -1

    found = [
        b for b in PG_ROOT.glob("*/bin") if (b / "postgres").is_file() and (b / "initdb").is_file()
    ]
    return max(found, key=major) if found else None


def _apt_install() -> None:
    if os.geteuid() != 0:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; "
            "install them with: sudo apt-get install -y postgresql"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    placed_policy = not POLICY_RC_D.exists()
    if placed_policy:
        POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        if subprocess.run(install, env=env, check=False).returncode != 0:
            # A fresh machine has no package lists yet.
            subprocess.run(["apt-get", "update"], env=env, check=True)
            subprocess.run(install, env=env, check=True)
    finally:
        if placed_policy:
            POLICY_RC_D.unlink(missing_ok=True)


def pg_bindir() -> Path:
    """The newest installed server's bin directory, installing Debian's package if needed."""
    bindir = _find_bindir()
    if bindir is None:
        _apt_install()
        bindir = _find_bindir()
    if bindir is None:
        raise RuntimeError(f"apt-get installed postgresql but no server is under {PG_ROOT}")
    return bindir


class PostgresServer:
    """One PostgreSQL cluster; use as a context manager or start()/close()."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.user = "mini"
        self.password = secrets.token_urlsafe(18)
        self.host = "127.0.0.1"
        self.port = free_ports(1)[0]
        # Short path: the Unix socket lives here and sun_path is 108 bytes.
        self.workdir = Path(tempfile.mkdtemp(prefix="pg-"))
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "postgres.log"
        self._as_system_user = os.geteuid() == 0
        if self._as_system_user:
            shutil.chown(self.workdir, SYSTEM_USER, SYSTEM_USER)
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        atexit.register(self.close)
        self._initdb()

    # -- processes -----------------------------------------------------------------

    def _spawn_kwargs(self) -> dict[str, Any]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        kwargs: dict[str, Any] = {"env": env, "cwd": self.workdir}
        if self._as_system_user:
            kwargs.update(user=SYSTEM_USER, group=SYSTEM_USER, extra_groups=[])
        return kwargs

    def _initdb(self) -> None:
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._as_system_user:
            shutil.chown(pwfile, SYSTEM_USER, SYSTEM_USER)
        try:
            result = subprocess.run(
                [
                    str(self.bindir / "initdb"),
                    f"--pgdata={self.data_dir}",
                    f"--username={self.user}",
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                capture_output=True,
                check=False,
                **self._spawn_kwargs(),
            )
        finally:
            pwfile.unlink()
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({result.returncode}):\n{result.stdout.decode()}"
                f"{result.stderr.decode()}"
            )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> PostgresServer:
        if self.running:
            return self
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.workdir),
                    "-c",
                    f"listen_addresses={self.host}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=100",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                **self._spawn_kwargs(),
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{self.log_tail()}")
            try:
                with self.connect():
                    return self
            except psycopg.OperationalError as exc:
                last_error = str(exc)
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"postgres did not accept connections within {timeout}s ({last_error}):\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, then exit.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- databases -----------------------------------------------------------------

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=5,
            autocommit=True,
        )

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A SQLAlchemy URL (psycopg 3 driver), as MINI_DATABASE_URL takes it."""
        secret = self.password if password is None else password
        return f"postgresql+psycopg://{self.user}:{secret}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A throwaway database for one test, dropped afterwards (connections or not)."""
        name = self.create_database()
        try:
            yield name
        finally:
            self.drop_database(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
