"""What only the PostgreSQL store has: schema versions, index-only hot
queries, batched purge, faults and recovery, and a race across processes.

Each test runs in a schema of its own on the local server (see
``servers.py``); a test that kills connections is marked ``throwaway`` and
runs on a cluster the suite started. An unreachable server skips (a failure
under CI=true).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jwtwarden.core.sessions import Session
from jwtwarden.core.users import User
from jwtwarden.errors import ConfigurationError, StoreUnavailableError
from jwtwarden.stores import postgres
from jwtwarden.stores.postgres import SCHEMA_VERSION, PostgresStore
from jwtwarden.stores.postgres import store as postgres_store
from tests.stores.faults import silent_port
from tests.stores.feed_race import a_follower_misses_nothing
from tests.stores.live_rotation import rotate_if_live_agrees_at_float_boundaries
from tests.stores.race import four_processes_make_one_lineage
from tests.stores.servers import (
    POSTGRES_URL,
    closed_port,
    postgres_admin,
    postgres_schema,
    schema_url,
)
from tests.stores.throwaway import ThrowawayPostgres

pytestmark = pytest.mark.store

T = 1_800_000_000.0


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    with postgres_schema(postgres_url) as name:
        yield name


@pytest.fixture
async def store(schema: str, postgres_url: str) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(schema_url(schema, app=f"jwt-{schema}", base=postgres_url), timeout=2.0)
    yield s
    await s.close()


def admin_sql(schema: str, sql: str, params: Any = None) -> list[Any]:
    with postgres_admin() as conn:
        conn.execute(f"SET search_path = {schema}")
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


async def user_with_session(store: PostgresStore) -> tuple[User, Session]:
    user = User(secrets.token_hex(8), f"u{secrets.token_hex(4)}", "$argon2id$x", (), T)
    await store.create_user(user)
    session = Session(secrets.token_urlsafe(16), user.sub, 0, b"s" * 16, T, T + 5000, T)
    await store.create_session(session)
    return user, session


# schema versions


async def test_a_fresh_schema_is_migrated_on_first_use(store: PostgresStore) -> None:
    assert await store.schema_version() is None
    await store.ping()
    assert await store.schema_version() == SCHEMA_VERSION
    assert await store.migrate() == SCHEMA_VERSION  # nothing pending: a no-op


async def test_a_newer_schema_is_refused(store: PostgresStore, schema: str) -> None:
    await store.migrate()
    admin_sql(schema, "INSERT INTO jwtwarden_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    fresh = PostgresStore(schema_url(schema))
    with pytest.raises(ConfigurationError, match="newer than this jwtwarden") as err:
        await fresh.ping()
    assert "jwtwarden migrate" in err.value.description
    with pytest.raises(ConfigurationError):
        await fresh.migrate()
    await fresh.close()


async def test_an_older_schema_is_refused_until_migrated(schema: str) -> None:
    admin_sql(schema, "CREATE TABLE jwtwarden_schema (version integer PRIMARY KEY)")
    store = PostgresStore(schema_url(schema))
    with pytest.raises(ConfigurationError, match="run `jwtwarden migrate`"):
        await store.ping()
    with pytest.raises(ConfigurationError):
        await store.get_user("x")  # never auto-migrated: it is not fresh
    assert await store.migrate() == SCHEMA_VERSION
    await store.ping()
    assert await store.get_user("x") is None
    await store.close()


async def test_without_auto_migrate_a_fresh_schema_is_refused(schema: str) -> None:
    store = PostgresStore(schema_url(schema), auto_migrate=False)
    with pytest.raises(ConfigurationError, match="version 0"):
        await store.ping()
    await store.close()


# plans


async def test_hot_queries_are_index_lookups_on_thousands_of_rows(
    store: PostgresStore, schema: str
) -> None:
    await store.ping()
    n = 5000
    fill = [
        "INSERT INTO users (sub, username, username_key, password_hash, roles, created_at, "
        "cutoff_at) SELECT 'sub' || i, 'user' || i, 'user' || i, 'h', '{}', %(t)s, "
        "CASE WHEN i %% 10 = 0 THEN %(t)s END FROM generate_series(1, %(n)s) i",
        "INSERT INTO sessions (sid, sub, generation, salt, auth_time, expires_at, last_used_at, "
        "client_id, revoked_at) SELECT 'sid' || i, 'sub' || (i %% %(n)s + 1), 0, '\\x00', "
        "%(t)s, %(t)s + 5000, %(t)s, 'jwtwarden', CASE WHEN i %% 10 = 0 THEN %(t)s END "
        "FROM generate_series(1, 2 * %(n)s) i",
        "INSERT INTO denylist SELECT 'jti' || i, %(t)s + i FROM generate_series(1, %(n)s) i",
        "INSERT INTO login_failures (key, at) SELECT 'key' || (i %% 1000), %(t)s + i "
        "FROM generate_series(1, %(n)s) i",
    ]
    for sql in fill:
        admin_sql(schema, sql, {"t": T, "n": n})
    admin_sql(schema, "ANALYZE")
    hot = {
        "find_user": (postgres.FIND_USER, {"key": "user42"}),
        "get_session": (postgres.GET_SESSION, {"sid": "sid42"}),
        "rotate": (postgres.ROTATE, {"now": T, "sid": "sid42", "gen": 0}),
        "rotate_if_live": (
            postgres.ROTATE_IF_LIVE,
            {"now": T, "sid": "sid42", "gen": 0, "idle": 1000.0},
        ),
        "revocation_facts": (
            postgres.REVOCATION_FACTS,
            {"jti": "jti42", "now": T, "sid": "sid42", "sub": "sub42"},
        ),
        "login_failures": (postgres.LOGIN_FAILURES, {"keys": ["key1", "key2"], "since": T}),
    }
    for name, (sql, params) in hot.items():
        plan = "\n".join(row[0] for row in admin_sql(schema, "EXPLAIN " + sql, params))
        assert "Seq Scan" not in plan, f"{name}:\n{plan}"
        assert "Index" in plan, f"{name}:\n{plan}"


# purge


async def test_purge_deletes_in_bounded_batches(
    store: PostgresStore, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.ping()
    admin_sql(
        schema,
        "INSERT INTO denylist SELECT 'j' || i, %s FROM generate_series(1, 1050) i",
        (T,),
    )
    monkeypatch.setattr(postgres_store, "_PURGE_BATCH", 100)
    batches: list[int] = []
    real = store._purge_batch

    async def spy(sql: str, params: dict[str, float]) -> int:
        count = await real(sql, params)
        batches.append(count)
        return count

    monkeypatch.setattr(store, "_purge_batch", spy)
    from jwtwarden.core.policy import Policy

    assert await store.purge_expired(T + 1, Policy()) == 1050
    assert max(batches) == 100 and sum(batches) == 1050
    assert batches.count(100) == 10  # eleven denylist batches, then one empty per other kind


# faults


@pytest.mark.parametrize("kind", ["closed port", "silent port"])
async def test_an_unreachable_server_raises_store_unavailable(kind: str) -> None:
    async def check(port: int) -> None:
        store = PostgresStore(f"postgresql://postgres@127.0.0.1:{port}/test", timeout=0.5)
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


@pytest.fixture
def terminate(throwaway_postgres: ThrowawayPostgres) -> Callable[[str], int]:
    """Kills backends on the suite's own cluster (the test is marked ``throwaway``)."""

    def kill(app: str) -> int:
        with postgres_admin(throwaway_postgres.url) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (app,),
            ).fetchall()
        return len(rows)

    return kill


@pytest.mark.throwaway
async def test_killed_connections_are_replaced_without_a_restart(
    store: PostgresStore, schema: str, terminate: Callable[[str], int]
) -> None:
    user, session = await user_with_session(store)
    await asyncio.gather(*(store.get_session(session.sid) for _ in range(4)))  # several in pool
    assert terminate(f"jwt-{schema}") >= 1
    await asyncio.sleep(0.2)
    # A read meets a dead connection, weeds the pool and is retried.
    found = await store.get_session(session.sid)
    assert found is not None and found[0] == session
    assert terminate(f"jwt-{schema}") >= 1
    await asyncio.sleep(0.2)
    # A write is not retried (its outcome is unknown): it may fail once, cleanly.
    try:
        await store.deny_jti("j1", T + 10)
    except StoreUnavailableError:
        await store.deny_jti("j1", T + 10)
    assert (await store.revocation_facts(user.sub, session.sid, "j1", T)).jti_denied


async def test_a_blocked_statement_times_out_and_the_store_goes_on(
    store: PostgresStore, schema: str
) -> None:
    user, session = await user_with_session(store)
    with postgres_admin() as locker:
        locker.execute(f"SET search_path = {schema}")
        with locker.transaction():
            locker.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreUnavailableError):
                await store.rotate(session.sid, 0, T + 1)
    rotated = await store.rotate(session.sid, 0, T + 1)
    assert rotated is not None and rotated.generation == 1


# races


async def test_four_processes_refreshing_one_token_make_one_lineage(
    schema: str, tmp_path: Path
) -> None:
    await four_processes_make_one_lineage(schema_url(schema), tmp_path)


def test_the_default_url_is_the_local_server() -> None:
    assert POSTGRES_URL.startswith("postgresql://")


# the revocation feed

H = 300.0


async def test_four_processes_denying_at_once_never_make_a_follower_miss_an_event(
    schema: str,
) -> None:
    await a_follower_misses_nothing(schema_url(schema), int)


async def test_a_follower_waiting_on_notify_misses_nothing(schema: str) -> None:
    await a_follower_misses_nothing(schema_url(schema), int, wait=True)


async def test_a_later_event_waits_for_the_position_lock_until_commit(
    store: PostgresStore, schema: str
) -> None:
    # A writer holding the feed lock (as one between its INSERT and COMMIT
    # does) holds back every other revocation: positions commit in order.
    await store.deny_jti("first", T + 100)
    with postgres_admin() as writer:
        writer.execute(f"SET search_path = {schema}")
        with writer.transaction():
            writer.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                (postgres._FEED_LOCK,),
            )
            late = asyncio.create_task(store.deny_jti("second", T + 100))
            await asyncio.sleep(0.3)
            assert not late.done()
            assert [e.key for e in await store.revocation_changes(None, T, H)] == ["first"]
        await late
    assert [e.key for e in await store.revocation_changes(None, T, H)] == ["first", "second"]


async def test_purge_trims_the_feed_by_each_events_own_expiry(
    store: PostgresStore, schema: str
) -> None:
    user, session = await user_with_session(store)
    await store.deny_jti("short", T + 10)
    await store.deny_jti("long", T + 1000)
    await store.revoke_session(session.sid, T, "logout")
    await store.set_cutoff(user.sub, T + 100, None)
    from jwtwarden.core.policy import Policy

    policy = Policy(access_ttl=H)
    await store.purge_expired(T + H + 1, policy)  # short and the sid event are dead
    rows = admin_sql(schema, "SELECT kind, key FROM revocation_events ORDER BY position")
    assert rows == [("jti", "long"), ("user", user.sub)]
    await store.purge_expired(T + 1000, policy)
    assert admin_sql(schema, "SELECT count(*) FROM revocation_events") == [(0,)]
    # Positions never go back, even once the table is empty.
    await store.deny_jti("next", T + 2000)
    (event,) = await store.revocation_changes(None, T, H)
    assert int(event.position) == 5


async def test_a_version_1_schema_migrates_to_the_feed(schema: str) -> None:
    (v1,) = [sql for number, sql in postgres._migrations() if number == 1]
    admin_sql(schema, v1)
    admin_sql(schema, "CREATE TABLE jwtwarden_schema (version integer PRIMARY KEY)")
    admin_sql(schema, "INSERT INTO jwtwarden_schema VALUES (1)")
    admin_sql(schema, "INSERT INTO denylist VALUES ('old', %s)", (T + 100,))
    store = PostgresStore(schema_url(schema))
    with pytest.raises(ConfigurationError, match="run `jwtwarden migrate`"):
        await store.ping()
    assert await store.migrate() == SCHEMA_VERSION
    snapshot = await store.revocation_snapshot(T, H)
    assert snapshot.denied == {"old": T + 100} and snapshot.position == "0"
    await store.deny_jti("new", T + 100)
    assert [e.key for e in await store.revocation_changes(snapshot.position, T, H)] == ["new"]
    await store.close()


async def test_wait_for_revocations_wakes_on_a_new_event(store: PostgresStore) -> None:
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
    # Something after the position already: no wait at all.
    started = time.monotonic()
    await store.wait_for_revocations(position, 10)
    assert time.monotonic() - started < 2


async def test_rotate_if_live_judges_float_boundaries_as_python_does(
    store: PostgresStore,
) -> None:
    await rotate_if_live_agrees_at_float_boundaries(store)


async def test_rotate_if_live_scans_both_tables_by_primary_key(
    store: PostgresStore, schema: str
) -> None:
    """The one-round-trip refresh looks the sid up in sessions_pkey whatever
    the statistics: on a tiny table, and when nearly every session is
    expired (where a bare ``now < expires_at`` drew the planner to the
    partial index sessions_by_expiry)."""
    await user_with_session(store)
    params = {"now": T, "sid": "sid42", "gen": 0, "idle": 1000.0}

    def plan() -> str:
        rows = admin_sql(schema, "EXPLAIN " + postgres.ROTATE_IF_LIVE, params)
        return "\n".join(row[0] for row in rows)

    assert "sessions_pkey" in plan() and "users_pkey" in plan(), plan()
    admin_sql(
        schema,
        "INSERT INTO users (sub, username, username_key, password_hash, roles, created_at) "
        "SELECT 'sub' || i, 'user' || i, 'user' || i, 'h', '{}', 0 "
        "FROM generate_series(1, 5000) i",
    )
    admin_sql(
        schema,
        "INSERT INTO sessions (sid, sub, generation, salt, auth_time, expires_at, last_used_at, "
        "client_id) SELECT 'sid' || i, 'sub' || (i % 5000 + 1), 0, '\\x00', 0, 0, 0, 'c' "
        "FROM generate_series(1, 10000) i",
    )
    admin_sql(schema, "ANALYZE")
    assert "sessions_pkey" in plan() and "users_pkey" in plan(), plan()
