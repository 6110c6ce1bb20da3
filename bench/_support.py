"""What the HTTP benchmarks share: cheap test argon2 settings, a free
loopback port, and throwaway stores on the local servers (a fresh SQLite
file, a PostgreSQL schema or a Redis key prefix, removed afterwards)."""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

#: Cheap argon2id parameters, for benchmarks and tests only.
CHEAP_TEST_ARGON2 = {
    "JWTWARDEN_ARGON2_TIME_COST": "1",
    "JWTWARDEN_ARGON2_MEMORY_COST": "8",
    "JWTWARDEN_ARGON2_PARALLELISM": "1",
}
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def store_url(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work}/bench-{secrets.token_hex(4)}.db"
    elif kind == "postgres":
        import psycopg

        schema = f"jwt_bench_{secrets.token_hex(4)}"
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
        finally:
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    elif kind == "redis":
        import redis

        prefix = f"bench{secrets.token_hex(4)}"
        try:
            yield f"{REDIS}?prefix={prefix}"
        finally:
            client = redis.Redis.from_url(REDIS)
            for key in client.scan_iter(f"{prefix}:*", count=1000):
                client.delete(key)
    else:
        raise ValueError(kind)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
