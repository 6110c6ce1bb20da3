"""A PostgreSQL restart in the middle of a run: while the server is down
every store call fails closed (StoreUnavailableError, never "not revoked");
when it is back the same store object recovers by itself, and nothing that
was committed is lost.

This stops and starts a throwaway cluster the suite made for itself
(``throwaway.py``), never the machine's; without the PostgreSQL binaries it
skips, saying why (a failure under CI=true).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from jwtwarden.core.sessions import Session
from jwtwarden.core.users import User
from jwtwarden.errors import StoreUnavailableError
from jwtwarden.stores.postgres import PostgresStore
from tests.stores.servers import postgres_schema, schema_url
from tests.stores.throwaway import ThrowawayPostgres

pytestmark = [pytest.mark.store, pytest.mark.throwaway]

T = 1_800_000_000.0


async def _until_up(store: PostgresStore, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            await store.ping()
            return
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)  # waiting for a real server to come back


async def test_a_restart_loses_nothing_committed_and_the_store_recovers(
    throwaway_postgres: ThrowawayPostgres,
) -> None:
    cluster = throwaway_postgres
    with postgres_schema(cluster.url) as schema:
        store = PostgresStore(schema_url(schema, base=cluster.url))
        user = User("u-restart", "restart", "$argon2id$x", ("user",), T)
        await store.create_user(user)
        session = Session("s" * 21 + "A", user.sub, 0, b"salt" * 4, T, T + 5000, T)
        other = Session("t" * 21 + "A", user.sub, 0, b"salt" * 4, T, T + 5000, T)
        await store.create_session(session)
        await store.create_session(other)
        assert await store.rotate(session.sid, 0, T + 1) is not None
        await store.revoke_session(other.sid, T + 2, "logout")
        await store.deny_jti("jti-before-restart", 4e9)
        try:
            cluster.stop()
            with pytest.raises(StoreUnavailableError):
                await store.revocation_facts(user.sub, other.sid, "jti-before-restart", T + 3)
            with pytest.raises(StoreUnavailableError):
                await store.rotate(session.sid, 1, T + 3)
        finally:
            cluster.start()
        await _until_up(store)
        facts = await store.revocation_facts(user.sub, other.sid, "jti-before-restart", T + 4)
        assert facts.jti_denied and facts.session_revoked
        found = await store.get_session(session.sid)
        assert found is not None and found[0].generation == 1
        assert await store.rotate(session.sid, 1, T + 5) is not None
        await store.close()
