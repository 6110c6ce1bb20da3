"""A synchronous facade per store kind, with a way to count the
connections (or, for the stores without a network, the files and threads)
it holds: ``Target.open_connections()``."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jwtwarden.settings import Settings
from tests.conftest import CHEAP_TEST_ARGON2
from tests.stores.servers import (
    postgres_admin,
    postgres_schema,
    prefixed,
    redis_admin,
    redis_prefix,
    schema_url,
)

KINDS = ["memory", "sqlite", "postgres", "redis"]


@dataclass
class Target:
    kind: str
    settings: Settings
    #: How many connections (PostgreSQL, Redis), open database files
    #: (SQLite) or jwtwarden threads (memory) exist now.
    open_connections: Callable[[], int]


def _threads() -> int:
    return sum(t.name.startswith("jwtwarden") for t in threading.enumerate())


def _files(path: Path) -> Callable[[], int]:
    def count() -> int:
        found = 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # closed while listing
                found += os.readlink(f"/proc/self/fd/{fd}").startswith(str(path))
        return found + _threads()

    return count


@pytest.fixture(params=KINDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    kind = request.param
    common = {
        "issuer": "https://auth.example",
        "key_file": str(tmp_path / "keys"),
        "argon2_time_cost": CHEAP_TEST_ARGON2["time_cost"],
        "argon2_memory_cost": CHEAP_TEST_ARGON2["memory_cost"],
        "argon2_parallelism": CHEAP_TEST_ARGON2["parallelism"],
    }
    if kind == "postgres":
        app = f"jwt_sync_{secrets.token_hex(4)}"

        def pg_count() -> int:
            with postgres_admin() as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
                ).fetchone()
            assert row is not None
            return int(row[0])  # type: ignore[call-overload]

        with postgres_schema() as schema:
            yield Target(kind, Settings(store=schema_url(schema, app), **common), pg_count)
    elif kind == "redis":
        with redis_prefix() as prefix:
            admin = redis_admin()

            def redis_count() -> int:
                return sum(c.get("name") == f"jwtwarden:{prefix}" for c in admin.client_list())

            try:
                yield Target(kind, Settings(store=prefixed(prefix), **common), redis_count)
            finally:
                admin.close()
    elif kind == "sqlite":
        db = tmp_path / "sync.db"
        yield Target(kind, Settings(store=f"sqlite:///{db}", **common), _files(db))
    else:
        yield Target(kind, Settings(store="memory://", **common), _threads)
