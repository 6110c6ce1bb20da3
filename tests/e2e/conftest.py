"""End-to-end: the real ``jwtwarden serve`` process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CHEAP_TEST_ARGON2

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jwtwarden(*args: str, cwd: Path, env: dict[str, str], input: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "jwtwarden", *args],
        cwd=cwd,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


Serve = Callable[..., contextlib.AbstractContextManager[str]]


@pytest.fixture
def serve(tmp_path: Path) -> Serve:
    """Start ``jwtwarden serve`` in ``tmp_path`` (SQLite store there, keys
    generated on first start) with users alice and root; yield its URL; stop
    it with SIGTERM and check it exits cleanly."""
    return serving(tmp_path)


def serving(tmp_path: Path) -> Serve:
    """:func:`serve` for any folder (a module-scoped fixture's, too)."""

    @contextlib.contextmanager
    def run(workers: int = 1, port: int | None = None, **settings: str) -> Iterator[str]:
        env = {
            **os.environ,
            **{f"JWTWARDEN_ARGON2_{k.upper()}": str(v) for k, v in CHEAP_TEST_ARGON2.items()},
        }
        env.update({f"JWTWARDEN_{k.upper()}": v for k, v in settings.items()})
        if not (tmp_path / "jwtwarden.db").exists():
            jwtwarden(
                "users",
                "add",
                "alice",
                "--password-stdin",
                cwd=tmp_path,
                env=env,
                input=PASSWORD + "\n",
            )
            jwtwarden(
                "users",
                "add",
                "root",
                "--role",
                "admin",
                "--password-stdin",
                cwd=tmp_path,
                env=env,
                input=PASSWORD + "\n",
            )
        port = port or free_port()
        log = open(tmp_path / f"serve-{port}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jwtwarden",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, proc, tmp_path / f"serve-{port}.log")
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            log.close()
            text = (tmp_path / f"serve-{port}.log").read_text()
            # uvicorn re-raises the signal after a graceful shutdown.
            assert code in (0, -signal.SIGTERM), text
            assert text.count("stopped: in-flight requests finished, store closed") == workers, text

    return run


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # polling a real process for readiness, not a time rule
    raise AssertionError(f"serve did not start: {log.read_text()}")
