"""Throwaway stores on the local servers for the benchmarks: a fresh SQLite
file, a PostgreSQL schema or a Redis key prefix, removed afterwards."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

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
