"""The servers store tests run against, and what each may be used for.

The machine's PostgreSQL (``JWTWARDEN_TEST_POSTGRES``, by default
127.0.0.1:5432, database ``test``) and Redis (``JWTWARDEN_TEST_REDIS``, by
default 127.0.0.1:6379) are shared: other programs, and other developers'
data, live there. Tests use them only for work that stays inside a store of
their own: PostgreSQL a schema of its own (named in the URL through the libpq
``options`` parameter), Redis a key prefix of its own (``?prefix=``), both
removed at teardown. A test never restarts, stops, reconfigures (``CONFIG
SET``), flushes (``FLUSHDB``, ``SCRIPT FLUSH``) or kills connections
(``CLIENT KILL``, ``pg_terminate_backend``) on these servers.

Tests that do any of that are marked ``throwaway`` and run on a
``redis-server`` or a PostgreSQL cluster the suite started itself on a free
loopback port and stops afterwards (``throwaway.py``; the ``redis_url`` and
``postgres_url`` fixtures in ``conftest.py`` pick the server).

An unreachable server, or a missing server binary, is a ``pytest.skip`` with
the reason; under CI=true the hook in ``tests/conftest.py`` turns that into a
failure.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
import pytest
import redis

#: Base URLs of the local servers; overridable for other setups.
POSTGRES_URL = os.environ.get(
    "JWTWARDEN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("JWTWARDEN_TEST_REDIS", "redis://127.0.0.1:6379/0")


def postgres_admin(url: str = POSTGRES_URL) -> psycopg.Connection[tuple[object, ...]]:
    """A plain autocommit connection to the test database, or a skip."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {url}: {str(exc).splitlines()[0]}")


def schema_url(schema: str, app: str | None = None, base: str = POSTGRES_URL) -> str:
    """The test database URL with ``schema`` first on the search_path."""
    url = f"{base}?options={quote(f'-csearch_path={schema}')}"
    return url if app is None else f"{url}&application_name={app}"


@contextmanager
def postgres_schema(url: str = POSTGRES_URL) -> Iterator[str]:
    """A new empty schema, dropped afterwards; yields its name."""
    name = f"jwt_test_{secrets.token_hex(6)}"
    with postgres_admin(url) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        with postgres_admin(url) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def redis_admin(url: str = REDIS_URL) -> redis.Redis:
    """A plain client of the test server, or a skip."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis unreachable at {url}: {exc}")
    return client


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.unlink(*keys[i : i + 500])
    return len(keys)


@contextmanager
def redis_prefix(url: str = REDIS_URL) -> Iterator[str]:
    """A new key prefix, its keys deleted afterwards; yields the prefix."""
    prefix = f"jwt-test-{secrets.token_hex(6)}"
    client = redis_admin(url)
    try:
        yield prefix
    finally:
        delete_prefix(client, prefix)
        client.close()


def prefixed(prefix: str, url: str = REDIS_URL) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}prefix={prefix}"


def closed_port() -> int:
    """A loopback port with nothing listening on it (just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
