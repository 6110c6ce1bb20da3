"""A PostgreSQL outage fails fast (issue 17, part 2): once the store is
known to be down every call fails at once (a 503 with ``Retry-After``),
``/readyz`` answers within 100 ms, and the first call after the server is
back succeeds within a second.

On the suite's own throwaway cluster (``pg_ctl stop -m immediate``, then
start). The store-level test times single calls; the last one runs the
outage benchmark (``bench/outage.py``: a real ``jwtwarden serve`` under a
bounded load) for two seconds and prints its figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from bench.outage import jwtwarden_serve, measure

from jwtwarden import Policy, Settings, TokenService
from jwtwarden.errors import StoreUnavailableError
from jwtwarden.keysource import EphemeralKeySource, KeyManager
from jwtwarden.server import create_app
from jwtwarden.stores.breaker import BreakerPolicy
from jwtwarden.stores.postgres import PostgresStore
from tests.conftest import CHEAP_TEST_ARGON2, CHEAP_TEST_PASSWORDS
from tests.stores.servers import postgres_schema, schema_url
from tests.stores.throwaway import ThrowawayPostgres

pytestmark = [pytest.mark.store, pytest.mark.throwaway]


@pytest.fixture
def schema(throwaway_postgres: ThrowawayPostgres) -> Iterator[str]:
    with postgres_schema(throwaway_postgres.url) as name:
        yield schema_url(name, base=throwaway_postgres.url)


@pytest.fixture
async def service(schema: str) -> AsyncIterator[TokenService]:
    store = PostgresStore(schema, breaker=BreakerPolicy(probe_interval=0.05))
    keys = KeyManager(EphemeralKeySource(), "EdDSA", 300)
    svc = TokenService(store, keys, Policy(), passwords=CHEAP_TEST_PASSWORDS)
    await svc.start()
    await svc.create_user("alice", "correct horse battery")
    yield svc
    await svc.close()


async def timed(call: object) -> float:
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        await call()  # type: ignore[operator]
    return time.monotonic() - start


async def test_a_stopped_postgres_fails_fast_and_recovers_within_a_second(
    throwaway_postgres: ThrowawayPostgres, service: TokenService
) -> None:
    store = service.store
    settings = Settings(
        store="memory://", **{f"argon2_{k}": v for k, v in CHEAP_TEST_ARGON2.items()}
    )
    app = create_app(service, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/readyz")).status_code == 200
        throwaway_postgres.stop("immediate")
        try:
            # The first call finds the broken connection; one probe confirms.
            assert await timed(lambda: store.find_user("alice")) < 1.0
            assert store._db.breaker.is_open  # type: ignore[attr-defined]
            latencies = [await timed(lambda: store.find_user("alice")) for _ in range(200)]
            assert max(latencies) < 0.05
            for _ in range(20):
                start = time.monotonic()
                r = await client.get("/readyz")
                assert time.monotonic() - start < 0.1
                assert r.status_code == 503 and r.headers["retry-after"] == "1"
            r = await client.post(
                "/token",
                data={"grant_type": "password", "username": "alice", "password": "x" * 12},
            )
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
        finally:
            throwaway_postgres.start()
        back = time.monotonic()
        while True:
            try:
                assert await store.find_user("alice") is not None
                break
            except StoreUnavailableError:
                assert time.monotonic() - back < 1.0
                await asyncio.sleep(0.01)  # a client retrying; the prober runs meanwhile
        assert time.monotonic() - back < 1.0
        assert (await client.get("/readyz")).status_code == 200


async def test_a_real_server_under_load_through_an_outage(
    throwaway_postgres: ThrowawayPostgres, schema: str, tmp_path: Path
) -> None:
    with jwtwarden_serve(schema, tmp_path) as url:
        figures = await measure(throwaway_postgres, url, seconds=2.0, settle=0.5)
    print("\n" + figures.report())
    assert set(figures.statuses) == {503} and figures.retry_after == {"1"}
    assert len(figures.latencies) > 100  # not a handful waiting out a pool timeout
    assert max(figures.readyz) < 0.1
    assert figures.recovery < 1.0
