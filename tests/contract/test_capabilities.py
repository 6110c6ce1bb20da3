"""The optional store capabilities of ``stores/base.py``, on every store that
has them; a store without one has none of its methods either, so an
``isinstance`` check never hides a half-implemented capability."""

from __future__ import annotations

import asyncio

import pytest

from jwtwarden.stores import Store
from jwtwarden.stores.base import Migrates, WaitsForRevocations
from tests.contract.test_store_contract import H, T, a_session, a_user

pytestmark = pytest.mark.store

#: Far longer than a wake may take: a wait that ends well before it was woken.
LONG = 60.0


async def test_a_revocation_wakes_a_waiting_follower(store: Store) -> None:
    if not isinstance(store, WaitsForRevocations):
        assert not hasattr(store, "wait_for_revocations")
        return
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    position = (await store.revocation_snapshot(T, H)).position

    # An event already past the position: no waiting at all.
    await store.deny_jti("before", T + 100)
    async with asyncio.timeout(LONG / 4):
        await store.wait_for_revocations(position, LONG)

    # An event written while the follower waits wakes it.
    position = (await store.revocation_snapshot(T, H)).position
    waiting = asyncio.create_task(store.wait_for_revocations(position, LONG))
    await asyncio.sleep(0.2)  # let it reach its blocking read
    assert not waiting.done()
    await store.revoke_session(session.sid, T + 1, "logout")
    async with asyncio.timeout(LONG / 4):
        await waiting


async def test_migrations_are_idempotent_and_report_their_version(store: Store) -> None:
    if not isinstance(store, Migrates):
        assert not hasattr(store, "migrate") and not hasattr(store, "schema_version")
        return
    await store.ping()  # first use migrates a fresh schema
    version = await store.migrate()
    assert await store.migrate() == version
    assert await store.schema_version() == version
