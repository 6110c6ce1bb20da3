"""Which server a store test runs on.

``redis_url`` and ``postgres_url`` are the machine's servers (``servers.py``)
unless the test is marked ``throwaway``: then they are servers the suite
started for it (``throwaway.py``), so the test may restart, reconfigure,
flush or kill the connections of its server. A throwaway Redis is started
per test (about 30 ms); the throwaway PostgreSQL cluster once per session
(initdb and start, about 1 s).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stores.servers import POSTGRES_URL, REDIS_URL
from tests.stores.throwaway import ThrowawayPostgres, ThrowawayRedis


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    if request.node.get_closest_marker("throwaway"):
        server: ThrowawayRedis = request.getfixturevalue("throwaway_redis")
        return server.url
    return REDIS_URL


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    if request.node.get_closest_marker("throwaway"):
        server: ThrowawayPostgres = request.getfixturevalue("throwaway_postgres")
        return server.url
    return POSTGRES_URL
