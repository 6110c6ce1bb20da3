"""The jwtwarden.django suite (``suite/``), run on SQLite and on the shared
PostgreSQL server, each in its own pytest process with pytest-django and the
test project's settings (``project/``). The PostgreSQL run uses a database
named for this run only (Django's runner creates and drops ``test_<name>``;
it is dropped here too if the run dies)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stores.servers import POSTGRES_URL, postgres_admin

ROOT = Path(__file__).resolve().parents[2]


def run_suite(settings: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pytest", "tests/django/suite", "-q",
        "-p", "pytest_django", "-p", "no:cacheprovider", "-o", "addopts=-ra",
        f"--ds=tests.django.project.{settings}", "--create-db",
    ]  # fmt: skip
    return subprocess.run(  # noqa: S603
        command,
        cwd=ROOT,
        env={**os.environ, "JWTWARDEN_DJANGO_SUITE": "1", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]


def test_the_app_on_sqlite(tmp_path: Path) -> None:
    check(run_suite("settings_sqlite", {"JWTWARDEN_DJANGO_TMP": str(tmp_path)}))


@pytest.mark.store
def test_the_app_on_postgres() -> None:
    from psycopg.conninfo import conninfo_to_dict

    admin = postgres_admin()  # skips, saying why, when the server is down
    name = f"jwtwarden_django_{secrets.token_hex(4)}"
    params = conninfo_to_dict(POSTGRES_URL)
    env = {
        "JWTWARDEN_DJANGO_DB": name,
        "JWTWARDEN_DJANGO_PGUSER": str(params.get("user", "postgres")),
        "JWTWARDEN_DJANGO_PGHOST": str(params.get("host", "127.0.0.1")),
        "JWTWARDEN_DJANGO_PGPORT": str(params.get("port", "5432")),
    }
    try:
        check(run_suite("settings_postgres", env))
    finally:
        with admin:
            admin.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
