"""A Redis that loses its data fails closed in every process, whoever
touches it first (issue 17, part 1; docs/stores.md, "Data loss").

Each test runs on a redis-server of its own (``throwaway``): the loss is a
real one (the server killed and restarted empty, a FLUSHDB, keys deleted as
an eviction would). Revoked tokens are made the three ways of the issue's
reproduction: a logout, ``/revoke`` of the access token, ``/revoke`` of the
refresh token. After the loss every token from before it is refused by the
store's facts, by a server's follower view, and by a remote verifier fed
from that view; tokens from after it verify; a brand-new store is not taken
for a lost one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from jwtwarden import FrozenClock, Policy, RevokedTokenError, TokenService, Verifier
from jwtwarden.core.view import RevocationSnapshot, RevocationView
from jwtwarden.keysource import FileKeySource, KeyManager, StoreKeySource
from jwtwarden.server.follower import RevocationFollower
from jwtwarden.stores.redis import RedisStore
from tests.conftest import CHEAP_TEST_PASSWORDS
from tests.stores.throwaway import ThrowawayRedis

pytestmark = [pytest.mark.store, pytest.mark.throwaway]

PASSWORD = "correct horse battery"
POLICY = Policy(access_ttl=300, issuer="http://auth.test")
MASTER = "m" * 40


@dataclass
class Process:
    """One jwtwarden process on the store: its service and its follower."""

    service: TokenService
    follower: RevocationFollower

    async def refuses(self, token: str) -> bool:
        """Whether the store's facts refuse ``token`` (``TokenService.verify``)."""
        try:
            await self.service.verify(token)
        except RevokedTokenError:
            return True
        return False

    async def view_refuses(self, token: str) -> bool:
        """Whether the follower's view refuses ``token``, as the server's
        in-process verifier does (after catching up with the feed)."""
        await self.follower.poll()
        return view_refuses(self.service, self.follower.view, token)


def view_refuses(service: TokenService, view: RevocationView, token: str) -> bool:
    verifier = Verifier(
        issuer=POLICY.issuer,
        audience=POLICY.audience,
        keys=service.jwks(),
        view=view,
        clock=service.clock,
    )
    try:
        verifier.verify(token)
    except RevokedTokenError:
        return True
    return False


@pytest.fixture
def server(throwaway_redis: ThrowawayRedis) -> ThrowawayRedis:
    return throwaway_redis


@pytest.fixture
def clock() -> FrozenClock:
    # Close to the wall clock: the CLI (a process of its own) reads that one.
    return FrozenClock(round(time.time(), 3))


@pytest.fixture
async def processes(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Callable[..., object]]:
    opened: list[TokenService] = []

    async def start(url: str, *, master: bool = False) -> Process:
        store = RedisStore(url, policy=POLICY)
        source = StoreKeySource(store, MASTER) if master else FileKeySource(tmp_path / "keys")
        keys = KeyManager(source, "EdDSA", POLICY.revocation_horizon)
        service = TokenService(store, keys, POLICY, passwords=CHEAP_TEST_PASSWORDS, clock=clock)
        await service.start()
        opened.append(service)
        follower = RevocationFollower(
            store, RevocationView(), clock=clock, horizon=POLICY.revocation_horizon
        )
        await follower.load()
        return Process(service, follower)

    yield start
    for service in opened:
        await service.close()


async def revoked_tokens(process: Process, clock: FrozenClock) -> tuple[list[str], str]:
    """Six access tokens revoked three ways, and one still good."""
    svc = process.service
    await svc.create_user("alice", PASSWORD)
    pairs = [await svc.login("alice", PASSWORD) for _ in range(7)]
    for pair in pairs[:2]:
        await svc.logout(await svc.verify(pair.access_token))
    for pair in pairs[2:4]:
        assert await svc.revoke_token(pair.access_token)
    for pair in pairs[4:6]:
        assert await svc.revoke_token(pair.refresh_token, "refresh_token")
    clock.advance(1)
    revoked = [p.access_token for p in pairs[:6]]
    for token in revoked:
        assert await process.refuses(token)
        assert await process.view_refuses(token)
    return revoked, pairs[6].access_token


async def everyone_refuses(processes: list[Process], tokens: list[str]) -> None:
    for process in processes:
        for token in tokens:
            assert await process.refuses(token)
            assert await process.view_refuses(token)


Start = Callable[..., object]


@pytest.mark.parametrize("first", ["surviving process", "new process", "cli", "remote verifier"])
async def test_a_redis_restarted_empty_fails_closed_whoever_touches_it_first(
    first: str,
    server: ThrowawayRedis,
    processes: Start,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    a: Process = await processes(server.url)  # type: ignore[operator]
    revoked, good = await revoked_tokens(a, clock)
    remote = RevocationView()
    remote.load(RevocationSnapshot.from_dict(a.follower.view.snapshot().to_dict()))
    position = a.follower.position

    server.stop()
    server.start()  # no persistence: it comes back empty
    clock.advance(15)

    if first == "surviving process":
        assert await a.refuses(good)
    elif first == "cli":
        env = {**os.environ, "JWTWARDEN_STORE": server.url}
        env["JWTWARDEN_KEY_FILE"] = str(tmp_path / "keys")
        listed = subprocess.run(
            [sys.executable, "-m", "jwtwarden", "users", "list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
    elif first == "remote verifier":
        # Nothing but the surviving server's follower touches the store: it
        # relays the loss to the remote verifier that follows it.
        await a.follower.poll()
        relayed = a.follower.events_after(position)
        assert relayed is not None and [e.kind for e in relayed] == ["store"]
        for event in relayed:
            remote.apply(event)
        for token in [*revoked, good]:
            assert view_refuses(a.service, remote, token)
    b: Process = await processes(server.url)  # type: ignore[operator]
    await everyone_refuses([b, a], [*revoked, good])
    # A verifier that connects now gets the loss in its first snapshot.
    fresh = RevocationView()
    fresh.load(RevocationSnapshot.from_dict(b.follower.view.snapshot().to_dict()))
    assert all(view_refuses(b.service, fresh, t) for t in [*revoked, good])

    # Tokens from after the loss verify; a lifetime later the cutoff is gone.
    await b.service.create_user("bob", PASSWORD)
    clock.advance(1)
    after = await a.service.login("bob", PASSWORD)
    for process in (a, b):
        assert not await process.refuses(after.access_token)
        assert not await process.view_refuses(after.access_token)
    clock.advance(POLICY.revocation_horizon)
    assert (await b.service.revocation_snapshot()).store_cutoff is None


async def test_a_brand_new_store_is_not_taken_for_a_lost_one(
    server: ThrowawayRedis, processes: Start, clock: FrozenClock
) -> None:
    a: Process = await processes(server.url)  # type: ignore[operator]
    b: Process = await processes(server.url)  # type: ignore[operator]
    _, good = await revoked_tokens(a, clock)
    for process in (a, b):
        assert (await process.service.revocation_snapshot()).store_cutoff is None
        assert not await process.refuses(good)
        assert not await process.view_refuses(good)


async def test_keys_sealed_in_the_store_cannot_vouch_for_a_new_one(
    server: ThrowawayRedis, processes: Start, clock: FrozenClock
) -> None:
    # Lost with the store, such keys cannot tell a new store from a wiped
    # one: the first epoch carries a cutoff, which nothing it signed predates.
    a: Process = await processes(server.url, master=True)  # type: ignore[operator]
    start = clock.now()
    assert (await a.service.revocation_snapshot()).store_cutoff == (start, start + 300)
    clock.advance(0.001)
    _, good = await revoked_tokens(a, clock)
    assert not await a.refuses(good)
    assert not await a.view_refuses(good)


async def test_a_flushdb_of_one_database_fails_closed_there_only(
    server: ThrowawayRedis, processes: Start, clock: FrozenClock, tmp_path: Path
) -> None:
    db1 = server.url.rsplit("/", 1)[0] + "/1"
    kept: Process = await processes(server.url)  # type: ignore[operator]
    flushed: Process = await processes(db1)  # type: ignore[operator]
    _, kept_good = await revoked_tokens(kept, clock)
    await kept.service.create_user("carol", PASSWORD)
    revoked, good = await revoked_tokens(flushed, clock)

    redis.Redis.from_url(db1).flushdb()
    clock.advance(1)
    newcomer: Process = await processes(db1)  # type: ignore[operator]
    await everyone_refuses([newcomer, flushed], [*revoked, good])
    assert not await kept.refuses(kept_good)
    assert not await kept.view_refuses(kept_good)


@pytest.fixture
def admin(server: ThrowawayRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()


@pytest.mark.parametrize("lost", ["d", "rv", "co", "x", "e"])
async def test_a_revocation_key_dropped_before_its_time_fails_closed(
    lost: str, server: ThrowawayRedis, processes: Start, clock: FrozenClock, admin: redis.Redis
) -> None:
    # As an eviction would: one key of the store's goes, the rest stays.
    a: Process = await processes(server.url)  # type: ignore[operator]
    revoked, good = await revoked_tokens(a, clock)
    await a.service.logout_all((await a.service.verify(good)).sub)  # fills the cutoff index
    await a.follower.poll()  # as a running server's does, woken by the event
    clock.advance(1)
    assert admin.delete(f"jw:{lost}") == 1
    clock.advance(1)
    b: Process = await processes(server.url)  # type: ignore[operator]
    await everyone_refuses([b, a], revoked)
    assert (await b.service.revocation_snapshot()).store_cutoff is not None


async def test_records_dropped_behind_their_index_still_count(
    server: ThrowawayRedis, processes: Start, clock: FrozenClock, admin: redis.Redis
) -> None:
    # A revoked session's hash or a cut-off user's hash gone: the revoked and
    # cutoff indexes still say so (no store cutoff needed).
    a: Process = await processes(server.url)  # type: ignore[operator]
    revoked, good = await revoked_tokens(a, clock)
    sub = (await a.service.verify(good)).sub
    await a.service.logout_all(sub)
    clock.advance(1)
    for key in admin.scan_iter("jw:s:*"):
        admin.delete(key)
    admin.delete(f"jw:u:{{{sub}}}")
    b: Process = await processes(server.url)  # type: ignore[operator]
    await everyone_refuses([b, a], [*revoked, good])
    assert (await b.service.revocation_snapshot()).store_cutoff is None


async def test_a_purge_that_empties_an_index_is_not_a_loss(
    server: ThrowawayRedis, processes: Start, clock: FrozenClock
) -> None:
    a: Process = await processes(server.url)  # type: ignore[operator]
    await revoked_tokens(a, clock)
    clock.advance(POLICY.revocation_horizon + 1)
    await a.service.purge()
    b: Process = await processes(server.url)  # type: ignore[operator]
    await b.service.create_user("dave", PASSWORD)
    pair = await b.service.login("dave", PASSWORD)
    assert (await a.service.revocation_snapshot()).store_cutoff is None
    assert not await a.refuses(pair.access_token)
