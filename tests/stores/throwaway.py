"""Throwaway servers the suite starts, owns and stops: a ``redis-server``
and a PostgreSQL cluster, each on a free loopback port with its data in a
temporary directory. Tests that restart, reconfigure, flush or kill the
connections of a server run on these, never on the machine's (see
``servers.py``).

Written by hand rather than with pytest-redis / pytest-postgresql: the
suite runs as root in CI, where ``initdb`` and ``postgres`` refuse to run,
so the cluster must be made and run as the ``postgres`` user; pytest-
postgresql runs ``pg_ctl`` as the current user. What is needed here is two
small classes, without two plugins and their dependencies.

A missing binary (or, as root, a missing ``postgres`` user) is a
``pytest.skip`` with the reason; under CI=true a skipped store test fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis

from tests.stores.servers import closed_port


class ThrowawayRedis:
    """``redis-server`` on a free port, in memory only (no RDB, no AOF).
    :meth:`stop` and :meth:`start` restart it on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed: no throwaway Redis")
        self.binary = binary
        self.port = closed_port()
        self.dir = Path(tempfile.mkdtemp(prefix="jwtwarden-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        args += ["no", "--daemonize", "no", "--dir", str(self.dir)]
        log = (self.dir / "redis.log").open("ab")
        self._proc = subprocess.Popen([self.binary, *args], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self._proc.poll() is not None or time.monotonic() > deadline:
                        log_text = (self.dir / "redis.log").read_text(errors="replace")
                        self.stop()
                        raise RuntimeError(f"throwaway redis-server did not start:\n{log_text}")
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _postgres_bindir() -> Path:
    """The ``bin`` directory of the highest installed PostgreSQL, or a skip."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [d for d in found if d.parent.name.isdigit() and (d / "pg_ctl").exists()]
    if not found:
        pytest.skip("no initdb/pg_ctl under /usr/lib/postgresql/*/bin: no throwaway PostgreSQL")
    return max(found, key=lambda d: int(d.parent.name))


class ThrowawayPostgres:
    """A cluster made with ``initdb`` in a temporary directory and run with
    ``pg_ctl`` on a free port: trust auth, loopback only, fsync off. As
    root, every command runs as the ``postgres`` user, who owns the
    directory. :meth:`stop` and :meth:`start` restart it on the same port."""

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.port = closed_port()
        self.dir = Path(tempfile.mkdtemp(prefix="jwtwarden-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                self.remove()
                pytest.skip("running as root and there is no postgres user to run initdb as")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        args = ["-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        try:
            self._run("initdb", *args)
        except BaseException:
            self.remove()
            raise

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        try:
            subprocess.run(
                [*self._as, str(self.bindir / tool), *args],
                check=True,
                capture_output=True,
                timeout=timeout,
                cwd=self.dir,  # the postgres user may not be able to enter ours
            )
        except subprocess.CalledProcessError as exc:
            out = (exc.stdout + exc.stderr).decode(errors="replace")
            raise RuntimeError(f"throwaway PostgreSQL: {tool} failed:\n{out}") from exc

    def start(self) -> None:
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-k {self.dir}",
            "-c fsync=off",  # speed; commits still reach the WAL, so a restart loses none
        ]
        log = str(self.dir / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", " ".join(options), "-w", "start")
        psycopg.connect(self.url, connect_timeout=5).close()

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
