"""What only the Redis store has: Lua scripts that survive SCRIPT FLUSH,
a TTL on every expirable key, hash tags, data-loss detection, the eviction
policy check, faults and recovery, memory per session, and a race across
processes.

Each test uses a key prefix of its own on the local server (see
``servers.py``). A test that flushes, reconfigures or kills connections is
marked ``throwaway`` and runs on a redis-server the suite started for it.
An unreachable server skips (a failure under CI=true).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from redis.crc import key_slot

from jwtwarden import FrozenClock, Policy, RevokedTokenError, TokenService
from jwtwarden.core.sessions import Session
from jwtwarden.core.users import User
from jwtwarden.errors import ConfigurationError, StoreUnavailableError
from jwtwarden.keysource import FileKeySource, KeyManager
from jwtwarden.stores.redis import RedisStore
from tests.conftest import CHEAP_TEST_PASSWORDS
from tests.stores.faults import silent_port
from tests.stores.feed_race import a_follower_misses_nothing
from tests.stores.live_rotation import rotate_if_live_agrees_at_float_boundaries
from tests.stores.race import four_processes_make_one_lineage
from tests.stores.servers import (
    closed_port,
    delete_prefix,
    prefixed,
    redis_admin,
    redis_prefix,
)
from tests.stores.throwaway import ThrowawayRedis

pytestmark = pytest.mark.store

T = 1_800_000_000.0
PASSWORD = "correct horse battery"
POLICY = Policy(access_ttl=300, idle_ttl=1000, login_window=600)
#: Keys that describe no expirable state: accounts, names, the keyring, the epoch.
PERMANENT = {"u", "n", "users", "e", "k", "c", "cn"}


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    with redis_prefix(redis_url) as p:
        yield p


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    client = redis_admin(redis_url)
    yield client
    client.close()


@pytest.fixture
async def store(prefix: str, redis_url: str) -> AsyncIterator[RedisStore]:
    s = RedisStore(prefixed(prefix, redis_url))
    yield s
    await s.close()


async def user_with_session(store: RedisStore, now: float = T) -> tuple[User, Session]:
    user = User(secrets.token_hex(8), f"u{secrets.token_hex(4)}", "$argon2id$x", (), now)
    await store.create_user(user)
    session = Session(
        secrets.token_urlsafe(16), user.sub, 0, secrets.token_bytes(16), now, now + 5000, now
    )
    await store.create_session(session)
    return user, session


@pytest.mark.throwaway
async def test_scripts_survive_a_script_flush(store: RedisStore, admin: redis.Redis) -> None:
    _, session = await user_with_session(store)
    assert await store.rotate(session.sid, 0, T + 1) is not None
    admin.script_flush()  # EVALSHA now fails with NOSCRIPT; the store reloads
    rotated = await store.rotate(session.sid, 1, T + 2)
    assert rotated is not None and rotated.generation == 2


@pytest.mark.throwaway
async def test_the_one_round_trip_scripts_survive_a_script_flush(
    store: RedisStore, admin: redis.Redis
) -> None:
    user, session = await user_with_session(store)
    admin.script_flush()
    found = await store.get_session(session.sid)
    assert found is not None and found[0] == session and found[1].sub == user.sub
    admin.script_flush()
    rotated = await store.rotate_if_live(session.sid, 0, T + 1, 1000.0)
    assert rotated is not None and rotated[0].generation == 1 and rotated[1] == found[1]


async def test_rotate_if_live_judges_float_boundaries_as_python_does(store: RedisStore) -> None:
    await rotate_if_live_agrees_at_float_boundaries(store)  # packed UUID subs too


async def test_rotate_if_live_refreshes_the_ttl_like_rotate(
    store: RedisStore, admin: redis.Redis
) -> None:
    """The key lives until the idle deadline of the new last use, or the
    absolute expiry if that comes first."""
    _, session = await user_with_session(store)  # expires at T + 5000
    assert await store.rotate_if_live(session.sid, 0, T + 500, 1000.0) is not None
    assert 990_000 < admin.pttl(store._session_key(session.sid)) <= 1_000_000
    for generation, now in enumerate((T + 1400, T + 2300, T + 3200, T + 4100), start=1):
        assert await store.rotate_if_live(session.sid, generation, now, 1000.0) is not None
    assert 890_000 < admin.pttl(store._session_key(session.sid)) <= 900_000


async def test_get_session_of_a_session_whose_user_is_gone(
    store: RedisStore, admin: redis.Redis
) -> None:
    user, session = await user_with_session(store)
    admin.delete(store._user_key(user.sub))
    assert await store.get_session(session.sid) is None
    assert await store.rotate_if_live(session.sid, 0, T + 1, 1000.0) is None
    assert admin.hget(store._session_key(session.sid), "g") == b"0"  # unchanged
    assert await store.get_session("missing") is None


async def test_every_key_of_expirable_state_has_a_ttl(admin: redis.Redis, prefix: str) -> None:
    store = RedisStore(prefixed(prefix), policy=POLICY)  # its TTLs: idle 1000 s, horizon 300 s
    user, session = await user_with_session(store)
    _, other = await user_with_session(store)
    await store.purge_expired(T, POLICY)
    _, third = await user_with_session(store)
    await store.rotate(session.sid, 0, T + 1)
    await store.revoke_session(other.sid, T + 2, "logout")
    await store.deny_jti("j1", T + 300)
    await store.set_cutoff(user.sub, T + 3, None)
    await store.record_login_failure(["k1", "k2"], T + 4, T + 4 - 600)
    await store.save_keyring(b"sealed", None)
    keys = [k.decode() for k in admin.scan_iter(match=f"{prefix}:*")]
    assert len(keys) >= 12
    for key in keys:
        kind = key.split(":")[1]
        ttl = admin.pttl(key)
        if kind in PERMANENT and not key.endswith(":s"):
            assert ttl == -1, key
        else:
            assert ttl > 0, key
    # Sessions live until their idle deadline, a revoked one one horizon.
    assert 990_000 < admin.pttl(store._session_key(third.sid)) <= 1_000_000
    assert 290_000 < admin.pttl(store._session_key(other.sid)) <= 300_000
    assert 590_000 < admin.pttl(store._failures_key("k1")) <= 600_000
    await store.close()


async def test_keys_are_hash_tagged_so_each_atomic_step_is_one_slot(store: RedisStore) -> None:
    user, session = await user_with_session(store)
    assert key_slot(store._user_key(user.sub).encode()) == key_slot(
        store._user_sessions_key(user.sub).encode()
    )
    assert store._session_key(session.sid).endswith("{" + session.sid + "}")
    assert key_slot(store._session_key(session.sid).encode()) == key_slot(session.sid.encode())


async def test_a_live_session_takes_at_most_300_bytes(
    store: RedisStore, admin: redis.Redis
) -> None:
    user = User("0b7c6a36-4f0f-4a53-9d6c-3f0f9c1d2a11", "alice", "$argon2id$x", (), T)
    await store.create_user(user)
    session = Session(
        secrets.token_urlsafe(16), user.sub, 0, secrets.token_bytes(16), T + 0.123456,
        T + 2_592_000.123456, T + 0.123456, ip="203.0.113.7", user_agent="Mozilla/5.0 (X11)",
    )  # fmt: skip
    await store.create_session(session)
    rotated = await store.rotate(session.sid, 0, T + 60.5)
    assert rotated is not None
    found = await store.get_session(session.sid)
    assert found is not None and found[0] == rotated  # exact times through the compact form
    used = admin.memory_usage(store._session_key(session.sid))
    assert used is not None and used <= 300


# data loss


@pytest.fixture
def empty_db(throwaway_redis: ThrowawayRedis) -> str:
    """A whole server of its own, started for this test, so the test may
    FLUSHDB it without touching anyone else's keys."""
    return throwaway_redis.url


@pytest.mark.throwaway
async def test_a_flushed_redis_revokes_every_earlier_token_for_one_lifetime(
    empty_db: str, tmp_path: Path, clock: FrozenClock
) -> None:
    store = RedisStore(empty_db)
    policy = Policy(access_ttl=300)
    keys = KeyManager(FileKeySource(tmp_path / "keys"), "EdDSA", 300)
    svc = TokenService(store, keys, policy, passwords=CHEAP_TEST_PASSWORDS, clock=clock)
    await svc.start()
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    denied = await svc.login("alice", PASSWORD)
    await svc.revoke_access_token(denied.access_token)
    await svc.verify(pair.access_token)
    assert (await svc.revocation_snapshot()).store_cutoff is None  # fresh is not loss

    clock.advance(10)
    redis.Redis.from_url(empty_db).flushdb()  # the denylist is gone with everything else
    lost_at = clock.advance(1)
    for token in (pair.access_token, denied.access_token):
        with pytest.raises(RevokedTokenError):
            await svc.verify(token)
    snapshot = await svc.revocation_snapshot()
    assert snapshot.store_cutoff == (lost_at, lost_at + 300)
    assert len(snapshot) == 1

    # A new process on the wiped store sees the same cutoff.
    other = RedisStore(empty_db)
    facts = await other.revocation_facts(pair.sub, pair.sid, "x", lost_at + 1)
    assert facts.store_cutoff == lost_at
    await other.close()

    # Tokens issued after the loss verify; after one lifetime the cutoff is gone.
    await svc.create_user("alice", PASSWORD)
    clock.advance(1)
    fresh = await svc.login("alice", PASSWORD)
    await svc.verify(fresh.access_token)
    clock.advance(300)
    assert (await svc.revocation_snapshot()).store_cutoff is None
    await svc.close()


# eviction policy


@pytest.fixture
def evicting_server(throwaway_redis: ThrowawayRedis) -> Iterator[None]:
    """The suite's own server (the test is marked ``throwaway``), set to evict."""
    admin = redis_admin(throwaway_redis.url)
    before = admin.config_get("maxmemory-policy")["maxmemory-policy"]
    assert before is not None
    admin.config_set("maxmemory-policy", "volatile-lru")
    try:
        yield
    finally:
        admin.config_set("maxmemory-policy", before)
        admin.close()


@pytest.mark.throwaway
async def test_an_evicting_server_is_warned_about(
    evicting_server: None, prefix: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(prefixed(prefix, redis_url))
    with caplog.at_level(logging.WARNING, logger="jwtwarden.stores.redis"):
        await store.ping()
    assert any("volatile-lru" in r.getMessage() for r in caplog.records)
    assert all(r.name == "jwtwarden.stores.redis" for r in caplog.records)
    await store.close()


@pytest.mark.throwaway
async def test_an_evicting_server_is_refused_on_request(
    evicting_server: None, prefix: str, redis_url: str
) -> None:
    store = RedisStore(prefixed(prefix, redis_url) + "&require_noeviction=true")
    with pytest.raises(ConfigurationError, match="noeviction"):
        await store.ping()
    await store.close()


@pytest.mark.throwaway
async def test_a_noeviction_server_is_accepted_on_request(prefix: str, redis_url: str) -> None:
    # The suite's own server, started with noeviction (redis-server's default),
    # so the test does not depend on how the machine's Redis is configured.
    store = RedisStore(prefixed(prefix, redis_url) + "&require_noeviction=true")
    await store.ping()
    await store.close()


# faults


@pytest.mark.parametrize("kind", ["closed port", "silent port"])
async def test_an_unreachable_server_raises_store_unavailable(kind: str) -> None:
    async def check(port: int) -> None:
        store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.3)
        calls = [
            store.get_session("sid"),
            store.rotate("sid", 0, T),
            store.revocation_facts("sub", "sid", "jti", T),
        ]
        for call in calls:
            with pytest.raises(StoreUnavailableError):
                await asyncio.wait_for(call, 10)
        await store.close()

    if kind == "closed port":
        await check(closed_port())
    else:
        with silent_port() as port:
            await check(port)


class _ClosedTransport:
    """A writer whose transport is gone, as uvloop reports it."""

    def writelines(self, data: Any) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("how", ["writer gone", "transport closed"])
async def test_a_driver_tripping_over_a_torn_down_connection_is_unavailable_not_a_crash(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """redis-py can fail on a connection closed under it: AttributeError
    when its writer is None (a Cluster failover), RuntimeError from uvloop's
    closed transport (a timeout under load), neither of which it catches.
    That is the store being unreachable (503), not a 500, and the next call
    works. Our own AttributeErrors still raise."""
    from redis.asyncio.connection import Connection

    user, session = await user_with_session(store)
    original = Connection._send_packed_command

    async def torn_down(self: Connection, command: Any) -> None:
        writer = self._writer  # what a concurrent disconnect leaves
        self._writer = None if how == "writer gone" else _ClosedTransport()  # type: ignore[assignment]
        if writer is not None:
            writer.close()
        await original(self, command)

    monkeypatch.setattr(Connection, "_send_packed_command", torn_down)
    with pytest.raises(StoreUnavailableError) as refused:
        await store.revoke_session(session.sid, T, "logout")
    assert "connection lost" in str(refused.value.detail)
    monkeypatch.undo()
    found = await store.get_session(session.sid)  # the next call reconnects
    assert found is not None and found[0].revoked_at is None

    async def ours(conn: Any) -> None:
        raise AttributeError("a bug of ours")

    with pytest.raises(AttributeError, match="a bug of ours"):
        await store._conn.run(ours)


def kill_clients(admin: redis.Redis, name: str) -> int:
    ids = [c["id"] for c in admin.client_list() if c.get("name") == name]
    for client_id in ids:
        admin.client_kill_filter(_id=client_id)
    return len(ids)


@pytest.mark.throwaway
async def test_killed_connections_are_replaced_without_a_restart(
    store: RedisStore, admin: redis.Redis, prefix: str
) -> None:
    user, session = await user_with_session(store)
    await asyncio.gather(*(store.get_session(session.sid) for _ in range(4)))
    assert kill_clients(admin, f"jwtwarden:{prefix}") >= 1
    found = await store.get_session(session.sid)
    assert found is not None and found[0] == session
    assert kill_clients(admin, f"jwtwarden:{prefix}") >= 1
    await store.deny_jti("j1", T + 10)
    assert (await store.revocation_facts(user.sub, session.sid, "j1", T)).jti_denied


# races


async def test_four_processes_refreshing_one_token_make_one_lineage(
    prefix: str, tmp_path: Path
) -> None:
    await four_processes_make_one_lineage(prefixed(prefix), tmp_path)


def test_the_helpers_delete_only_their_prefix(admin: redis.Redis, prefix: str) -> None:
    admin.set(f"{prefix}:x", "1")
    admin.set(f"{prefix}x:y", "1", ex=5)
    assert delete_prefix(admin, prefix) == 1
    admin.delete(f"{prefix}x:y")


# the revocation feed

H = 300.0


def stream_order(position: str) -> tuple[int, int]:
    ms, seq = position.split("@")[0].split("-")
    return int(ms), int(seq)


async def test_four_processes_denying_at_once_never_make_a_follower_miss_an_event(
    prefix: str,
) -> None:
    await a_follower_misses_nothing(prefixed(prefix), stream_order)


async def test_a_follower_blocking_on_xread_misses_nothing(prefix: str) -> None:
    await a_follower_misses_nothing(prefixed(prefix), stream_order, wait=True)


async def test_purge_trims_the_feed_by_each_events_own_expiry(
    store: RedisStore, admin: redis.Redis
) -> None:
    user, session = await user_with_session(store)
    await store.deny_jti("short", T + 10)
    await store.deny_jti("long", T + 1000)
    await store.revoke_session(session.sid, T, "logout")
    await store.set_cutoff(user.sub, T + 100, None)
    feed = store._key("x")
    assert admin.pttl(feed) > 0  # the stream expires once its last event is dead
    await store.purge_expired(T + H + 1, POLICY)  # short and the sid event are dead
    entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", admin.xrange(feed))
    assert [(f[b"k"], f[b"i"].decode()) for _, f in entries] == [
        (b"jti", "long"),
        (b"user", user.sub),
    ]
    assert await store.purge_expired(T + 1000, POLICY) == 3  # long's entry and two events
    assert admin.xlen(feed) == 0
    await store.deny_jti("next", T + 2000)
    (event,) = await store.revocation_changes(None, T, H)
    assert event.key == "next"


async def test_the_feed_purge_stops_at_a_page_of_live_events_and_takes_the_rest_later(
    store: RedisStore, admin: redis.Redis
) -> None:
    # A whole page of live events ends the walk (feed.purge): a dead event
    # behind them is skipped by readers and purged once they die.
    for start in range(0, 1000, 100):
        await asyncio.gather(
            *(store.deny_jti(f"live{i}", T + 1000) for i in range(start, start + 100))
        )
    await store.deny_jti("short", T + 10)
    feed = store._key("x")
    await store.purge_expired(T + H + 1, POLICY)
    assert admin.xlen(feed) == 1001
    events = await store.revocation_changes(None, T + H + 1, H, limit=2000)
    assert len(events) == 1000 and "short" not in {e.key for e in events}
    await store.purge_expired(T + 1000, POLICY)
    assert admin.xlen(feed) == 0


async def test_the_feed_pages_past_dead_events(store: RedisStore) -> None:
    for i in range(1500):
        await store.deny_jti(f"dead{i}", T + 1)
    await store.deny_jti("live", T + 100)
    # More dead events than one XRANGE page, then one that matters.
    assert [e.key for e in await store.revocation_changes(None, T + 2, H)] == ["live"]


async def test_wait_for_revocations_wakes_on_a_new_event(store: RedisStore) -> None:
    position = (await store.revocation_snapshot(T, H)).position
    started = time.monotonic()
    await store.wait_for_revocations(position, 0.3)  # nothing: the full timeout
    assert time.monotonic() - started >= 0.3
    waiting = asyncio.create_task(store.wait_for_revocations(position, 10))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = time.monotonic()
    await store.deny_jti("j", T + 100)
    await waiting
    assert time.monotonic() - started < 2
    started = time.monotonic()
    await store.wait_for_revocations(position, 10)  # already something after it
    assert time.monotonic() - started < 2


@pytest.mark.throwaway
async def test_a_flushed_redis_puts_its_store_cutoff_on_the_feed(empty_db: str) -> None:
    store = RedisStore(empty_db)
    position = (await store.revocation_snapshot(T, H)).position
    assert position is not None
    redis.Redis.from_url(empty_db).flushdb()
    assert (await store.revocation_facts("s", "s", "j", T + 5)).store_cutoff == T + 5
    (event,) = await store.revocation_changes(position, T + 5, H)
    assert (event.kind, event.cutoff_at, event.forget_at) == ("store", T + 5, T + 5 + H)
    assert stream_order(event.position) > stream_order(position)
    await store.close()


async def test_a_burst_beyond_the_pool_waits_for_a_connection() -> None:
    from tests.stores.servers import prefixed, redis_admin, redis_prefix

    redis_admin()  # skip (a failure under CI) if the server is down
    with redis_prefix() as prefix:
        store = RedisStore(prefixed(prefix), max_connections=4)
        try:
            results = await asyncio.gather(
                *(store.deny_jti(f"j{i}", time.time() + 600) for i in range(200)),
                return_exceptions=True,
            )
            assert [r for r in results if isinstance(r, BaseException)] == []
            snapshot = await store.revocation_snapshot(time.time(), 300)
            assert len(snapshot.denied) == 200
        finally:
            await store.close()
