"""DPoP (RFC 9449) on every store: a session keeps the thumbprint of the key
it is bound to through every rotation, and a client keeps whether it
requires DPoP."""

from __future__ import annotations

import pytest

from jwtwarden.core.clients import Client
from jwtwarden.stores import Store
from tests.contract.test_store_contract import T, a_session, a_user

pytestmark = pytest.mark.store

JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


async def test_the_store_keeps_the_dpop_thumbprint_with_the_session(store: Store) -> None:
    user = a_user("holder")
    await store.create_user(user)
    bound = a_session(user.sub, jkt=JKT)
    plain = a_session(user.sub)
    await store.create_session(bound)
    await store.create_session(plain)
    found = await store.get_session(bound.sid)
    assert found is not None and found[0].jkt == JKT
    rotated = await store.rotate(bound.sid, 0, T + 1)
    assert rotated is not None and rotated.jkt == JKT
    live = await store.rotate_if_live(bound.sid, 1, T + 2, 1000.0)
    assert live is not None and live[0].jkt == JKT
    revoked = await store.revoke_session(bound.sid, T + 3, "logout")
    assert revoked is not None and revoked.jkt == JKT
    kept = {s.sid: s.jkt for s in await store.list_sessions(user.sub)}
    assert kept == {bound.sid: JKT, plain.sid: None}


async def test_the_store_keeps_whether_a_client_requires_dpop(store: Store) -> None:
    strict = Client("rs_strict", "strict", "h" * 64, T, require_dpop=True)
    lax = Client("rs_lax", "lax", "h" * 64, T, issues_sessions=True, session_roles=("user",))
    await store.create_client(strict)
    await store.create_client(lax)
    assert await store.get_client("rs_strict") == strict
    assert await store.get_client("rs_lax") == lax
