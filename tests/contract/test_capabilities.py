"""The optional store capabilities of ``stores/base.py``, on every store that
has them; a store without one has none of its methods either, so an
``isinstance`` check never hides a half-implemented capability."""

from __future__ import annotations

import asyncio

import pytest

from jwtwarden.stores import Store
from jwtwarden.stores.base import Migrates, WaitsForRevocations
from tests.contract.test_store_contract import POLICY, H, T, a_session, a_user

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


async def test_remember_once_is_true_only_the_first_time(store: Store) -> None:
    assert await store.remember_once("jwt-bearer", "c1:j1", T, T + 60)
    assert not await store.remember_once("jwt-bearer", "c1:j1", T + 30, T + 90)
    # The same key in another namespace, another key: both new.
    assert await store.remember_once("dpop", "c1:j1", T, T + 60)
    assert await store.remember_once("jwt-bearer", "c1:j2", T, T + 60)
    # Once its until has passed it may be taken again (and is kept anew).
    assert await store.remember_once("jwt-bearer", "c1:j1", T + 60, T + 120)
    assert not await store.remember_once("jwt-bearer", "c1:j1", T + 61, T + 121)


async def test_remember_once_decides_racing_callers_once(store: Store) -> None:
    results = await asyncio.gather(
        *(store.remember_once("jwt-bearer", "race", T, T + 60) for _ in range(20))
    )
    assert results.count(True) == 1


async def test_purge_drops_what_remember_once_no_longer_needs(store: Store) -> None:
    await store.remember_once("jwt-bearer", "old", T, T + 10)
    await store.remember_once("jwt-bearer", "new", T, T + 100)
    await store.purge_expired(T + 50, POLICY)
    assert not await store.remember_once("jwt-bearer", "new", T + 50, T + 150)
    assert await store.remember_once("jwt-bearer", "old", T + 50, T + 150)
