"""The Redis store on Redis Cluster (``redis+cluster://``), on the suite's
throwaway cluster (tests/stores/cluster.py): the URL, the key layout (every
step in one slot), the races across processes, and the revocation feed.
The store contract and the HTTP suite also run here (tests/contract,
tests/http, tests/security: the ``cluster`` parameter)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from jwtwarden.core.policy import Policy
from jwtwarden.errors import ConfigurationError
from jwtwarden.stores import open_store
from jwtwarden.stores.redis import RedisStore
from tests.contract.test_store_contract import a_session, a_user
from tests.stores.cluster import ThrowawayCluster
from tests.stores.feed_race import a_follower_misses_nothing
from tests.stores.race import four_processes_make_one_lineage

pytestmark = [pytest.mark.store, pytest.mark.cluster]

T = 1_800_000_000.0
POLICY = Policy(access_ttl=300.0, idle_ttl=1000.0)


@pytest.fixture
def url(redis_cluster: ThrowawayCluster) -> Iterator[str]:
    with redis_cluster.prefix() as prefix:
        yield f"{redis_cluster.url}?prefix={prefix}"


def slot_of(cluster: ThrowawayCluster, key: str) -> int:
    client = cluster.alive()[0].client()
    try:
        return int(client.execute_command("CLUSTER", "KEYSLOT", key))
    finally:
        client.close()


def test_the_url_names_seeds_and_our_options_only() -> None:
    store = open_store("redis+cluster://127.0.0.1:7000,127.0.0.1:7001?prefix=a&wait=0")
    assert isinstance(store, RedisStore) and store.prefix == "a"
    for bad in (
        "redis+cluster://127.0.0.1",
        "redis+cluster://127.0.0.1:0",
        "redis+cluster://127.0.0.1:7000,:7001",
        "redis+cluster://127.0.0.1:7000?db=1",
        "redis+cluster://127.0.0.1:7000?wait=x",
        "redis+cluster://127.0.0.1:7000?prefix=a{b}",
    ):
        with pytest.raises(ConfigurationError):
            open_store(bad)


async def test_any_one_seed_finds_the_whole_cluster(redis_cluster: ThrowawayCluster) -> None:
    node = redis_cluster.members[-1]
    with redis_cluster.prefix() as prefix:
        store = RedisStore(f"redis+cluster://{node.address}?prefix={prefix}")
        user = a_user()
        await store.create_user(user)
        assert await store.get_user(user.sub) == user
        await store.close()


async def test_a_session_shares_its_users_slot_and_revocations_share_one(
    redis_cluster: ThrowawayCluster, url: str
) -> None:
    store = RedisStore(url, policy=POLICY)
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    keys = store._keys  # noqa: SLF001 - the layout is what is under test
    slots = {
        slot_of(redis_cluster, k)
        for k in (keys.session(session.sid, user.sub), keys.user(user.sub))
    }
    assert len(slots) == 1
    sources = (keys.denied, keys.revoked, keys.cutoffs, keys.feed, keys.epoch, keys.mirror)
    assert len({slot_of(redis_cluster, k) for k in sources}) == 1
    # The rotation rule with the user's cutoff, in one step on the cluster.
    assert await store.rotate_if_live(session.sid, 0, T + 1, 1000.0) is not None
    await store.set_cutoff(user.sub, T + 2, None)
    assert await store.rotate_if_live(session.sid, 1, T + 3, 1000.0) is None
    await store.close()


async def test_a_fresh_process_finds_a_session_by_its_pointer(url: str) -> None:
    first, second = RedisStore(url, policy=POLICY), RedisStore(url, policy=POLICY)
    user = a_user()
    await first.create_user(user)
    session = a_session(user.sub)
    await first.create_session(session)
    found = await second.rotate_if_live(session.sid, 0, T + 1, 1000.0)
    assert found is not None and found[0].generation == 1
    assert await second.get_session("no-such-sid") is None
    assert await second.revoke_session("no-such-sid", T, "logout") is None
    for store in (first, second):
        await store.close()


async def test_a_revocation_waits_for_a_replica(url: str) -> None:
    store = RedisStore(url, policy=POLICY)
    assert store._conn.wait_replicas == 1  # noqa: SLF001 - the default on Cluster
    user = a_user()
    await store.create_user(user)
    session = a_session(user.sub)
    await store.create_session(session)
    assert await store.revoke_session(session.sid, T, "logout") is not None
    await store.deny_jti("j1", 4_000_000_000.0)
    await store.set_ban(user.sub, T + 100, T + 1)
    facts = await store.revocation_facts(user.sub, session.sid, "j1", T + 2)
    assert facts.session_revoked and facts.jti_denied and facts.user.banned_until == T + 100
    await store.close()


async def test_a_purge_sweeps_every_primary(url: str) -> None:
    store = RedisStore(url, policy=POLICY)
    users = [a_user(f"u{i}") for i in range(12)]
    for user in users:
        await store.create_user(user)
        await store.create_session(a_session(user.sub, expires_at=T + 10))
    assert await store.purge_expired(T + 2000, POLICY) >= 12
    for user in users:
        assert await store.list_sessions(user.sub) == []
    await store.close()


# races


async def test_four_processes_refreshing_one_token_make_one_lineage(
    url: str, tmp_path: Path
) -> None:
    await four_processes_make_one_lineage(url, tmp_path)


def stream_order(position: str) -> tuple[int, int]:
    ms, seq = position.split("@")[0].split("-")
    return int(ms), int(seq)


async def test_four_processes_denying_at_once_never_make_a_follower_miss_an_event(
    url: str,
) -> None:
    await a_follower_misses_nothing(url, stream_order, wait=True)


def test_the_harness_leaves_nothing_behind() -> None:
    with ThrowawayCluster() as cluster:
        ports = [n.port for n in cluster.members]
        folder = cluster.dir
        assert len(cluster.primaries()) == 3
    assert not folder.exists()
    for port in ports:
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            pass


def test_a_prefix_is_removed_from_every_primary(redis_cluster: ThrowawayCluster) -> None:
    with redis_cluster.prefix() as prefix:
        client = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.members[0].port)
        for i in range(20):
            client.set(f"{prefix}:{{{secrets.token_hex(4)}}}:{i}", "1")
    left = [k for n in redis_cluster.primaries() for k in n.client().scan_iter(match=f"{prefix}:*")]
    client.close()
    assert left == []
