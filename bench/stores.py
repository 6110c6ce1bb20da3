"""Store benchmark: every backend in one run, each figure beside a baseline
measured in the same run. Run: ``python bench/stores.py`` (a few minutes;
loopback servers: ``JWTWARDEN_TEST_POSTGRES``, ``JWTWARDEN_TEST_REDIS``).

Per backend (memory, sqlite, postgres, redis):

- rotations/s through ``TokenService.refresh``, one process (sequential) and
  four processes (each sequential), and p50/p99 of one rotation;
- logins/s with CHEAP_TEST_ARGON2 (t=1, 8 KiB, p=1);
- the baseline: one bare driver round trip (``PING``; ``SELECT 1`` and one
  committed ``UPDATE … RETURNING`` on a one-row table), as ops/s;
- Redis: bytes per live session (``MEMORY USAGE`` of its keys, median over
  100,000 sessions made directly through the store); PostgreSQL: rows per
  session (rows in every table / sessions);
- ``len(revocation_snapshot)`` after 100,000 single ``deny_jti`` revocations
  once their tokens have expired (target 0).

Each store gets its own PostgreSQL schema or Redis prefix, dropped at the end.

``python bench/stores.py --cluster`` compares single-node Redis with a
throwaway local Redis Cluster (6 nodes, 3 primaries; tests/stores/cluster.py)
in one run: rotations/s and revocations/s (``revoke_session``, sequential),
each as the median of three rounds beside a ``PING`` baseline on the same
server, on the cluster with and without ``WAIT`` (``wait=1`` / ``wait=0``),
whose difference is WAIT's cost per revocation. ``--single`` runs the
single-node part alone (e.g. with ``PYTHONPATH`` at another checkout's
``src``, for a before/after).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import redis

from jwtwarden import FrozenClock, Policy, SystemClock, TokenService
from jwtwarden.core.sessions import Session
from jwtwarden.core.users import User
from jwtwarden.keysource import EphemeralKeySource, FileKeySource, KeyManager
from jwtwarden.passwords import Passwords
from jwtwarden.stores import Store, open_store

CHEAP_TEST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
POSTGRES = os.environ.get("JWTWARDEN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("JWTWARDEN_TEST_REDIS", "redis://127.0.0.1:6379/0")
ROTATIONS = 2000
PROCESSES = 4
LOGINS = 300
SESSIONS = 100_000
DENIALS = 100_000
PASSWORD = "correct horse battery"


def build_store(url: str) -> Store:
    if url.startswith("postgresql://"):
        from jwtwarden.stores.postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith(("redis://", "redis+cluster://")):
        from jwtwarden.stores.redis import RedisStore

        return RedisStore(url)
    return open_store(url)


def service(url: str, keys: Path | None, clock: Any = None) -> TokenService:
    source = EphemeralKeySource() if keys is None else FileKeySource(keys)
    return TokenService(
        build_store(url),
        KeyManager(source, "EdDSA", 300),
        Policy(access_ttl=300, purge_interval=1e9),
        passwords=Passwords(**CHEAP_TEST_ARGON2),
        clock=clock or SystemClock(),
    )


async def rotate_chain(svc: TokenService, n: int) -> list[float]:
    """Log in once and rotate ``n`` times; the latency of each rotation."""
    pair = await svc.login("alice", PASSWORD)
    token, took = pair.refresh_token, []
    for _ in range(n):
        start = time.perf_counter()
        token = (await svc.refresh(token)).refresh_token
        took.append(time.perf_counter() - start)
    return took


def _rotate_worker(url: str, keys: str, n: int, barrier: Any, out: Any) -> None:
    async def main() -> float:
        svc = service(url, Path(keys))
        await svc.start()
        await svc.store.ping()
        barrier.wait()
        start = time.perf_counter()
        await rotate_chain(svc, n)
        elapsed = time.perf_counter() - start
        await svc.close()
        return elapsed

    out.put(asyncio.run(main()))


def rotations_in_processes(url: str, keys: Path) -> float:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    n = ROTATIONS // 2
    procs = [
        ctx.Process(target=_rotate_worker, args=(url, str(keys), n, barrier, out))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    slowest = max(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join()
    return PROCESSES * n / slowest


async def bench_service(kind: str, url: str, tmp: Path) -> dict[str, float]:
    keys = None if kind == "memory" else tmp / f"{kind}.keys"
    svc = service(url, keys)
    await svc.start()
    await svc.create_user("alice", PASSWORD)
    await rotate_chain(svc, 50)  # warm up
    start = time.perf_counter()
    took = await rotate_chain(svc, ROTATIONS)
    out = {"rotations/s": ROTATIONS / (time.perf_counter() - start)}
    quantiles = statistics.quantiles(took, n=100)
    out["p50 ms"], out["p99 ms"] = quantiles[49] * 1000, quantiles[98] * 1000
    start = time.perf_counter()
    for _ in range(LOGINS):
        await svc.login("alice", PASSWORD)
    out["logins/s"] = LOGINS / (time.perf_counter() - start)
    await svc.close()
    if keys is not None:
        out["rotations/s, 4 processes"] = rotations_in_processes(url, keys)
    return out


async def redis_baseline(url: str) -> float:
    client = redis.asyncio.Redis.from_url(url.split("?")[0])
    await client.ping()
    start = time.perf_counter()
    for _ in range(ROTATIONS):
        await client.ping()
    rate = ROTATIONS / (time.perf_counter() - start)
    await client.aclose()
    return rate


async def postgres_baselines(url: str) -> tuple[float, float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE one (id int PRIMARY KEY, n bigint)")
        await conn.execute("INSERT INTO one VALUES (1, 0)")
        rates = []
        for sql in ("SELECT 1", "UPDATE one SET n = n + 1 WHERE id = 1 RETURNING n"):
            for _ in range(50):
                await conn.execute(sql)
            start = time.perf_counter()
            for _ in range(ROTATIONS):
                await (await conn.execute(sql)).fetchone()
            rates.append(ROTATIONS / (time.perf_counter() - start))
    return rates[0], rates[1]


def sqlite_baseline(path: Path) -> float:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE one (id INTEGER PRIMARY KEY, n INTEGER)")
    conn.execute("INSERT INTO one VALUES (1, 0)")
    start = time.perf_counter()
    for _ in range(ROTATIONS):
        conn.execute("UPDATE one SET n = n + 1 WHERE id = 1 RETURNING n").fetchone()
    rate = ROTATIONS / (time.perf_counter() - start)
    conn.close()
    return rate


def a_session(sub: str, now: float) -> Session:
    return Session(
        secrets.token_urlsafe(16), sub, 0, secrets.token_bytes(16), now, now + 2_592_000, now,
        ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64)",
    )  # fmt: skip


async def redis_bytes_per_session(url: str) -> tuple[float, int]:
    from jwtwarden.stores.redis import RedisStore

    store = RedisStore(url)
    now = time.time_ns() // 1000 / 1e6
    users = [User(str(uuid.uuid4()), f"user{i}", "h", (), now) for i in range(1000)]
    for user in users:
        await store.create_user(user)
    sids = []
    for batch in range(SESSIONS // 1000):
        made = [a_session(users[(batch + i) % 1000].sub, now) for i in range(1000)]
        await asyncio.gather(*(store.create_session(s) for s in made))
        sids += [s.sid for s in made]
    client = redis.Redis.from_url(url.split("?")[0])
    pipe = client.pipeline(transaction=False)
    for sid in sids:
        pipe.memory_usage(store._session_key(sid))
    sizes = pipe.execute()
    index = sum(client.memory_usage(store._user_sessions_key(u.sub)) or 0 for u in users)
    client.close()
    await store.close()
    return statistics.median(sizes), index // SESSIONS


async def postgres_rows_per_session(url: str) -> float:
    svc = service(url, None)
    await svc.start()
    await svc.create_user("alice", PASSWORD)
    n = 200
    for _ in range(n):
        await rotate_chain(svc, 5)
    await svc.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        rows = 0
        for table in ("users", "sessions", "denylist", "login_failures", "clients"):
            rows += (await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone())[0]
    return (rows - 1) / n  # the one user is not per session


async def snapshot_after_denials(url: str) -> int:
    clock = FrozenClock(time.time())
    store = build_store(url)
    now = clock.now()
    for batch in range(DENIALS // 1000):
        await asyncio.gather(*(store.deny_jti(f"j{batch}-{i}", now + 60) for i in range(1000)))
    clock.advance(301)
    await store.purge_expired(clock.now(), Policy(access_ttl=300))
    size = len(await store.revocation_snapshot(clock.now(), 300))
    await store.close()
    return size


def ratio(value: float, base: float) -> str:
    return f"{value:,.0f}/s ({value / base:.2f}x)"


async def main() -> None:
    schema = f"jwt_bench_{secrets.token_hex(4)}"
    prefix = f"jwt-bench-{secrets.token_hex(4)}"
    admin = psycopg.connect(POSTGRES, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    pg_url = f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
    redis_url = f"{REDIS}{'&' if '?' in REDIS else '?'}prefix={prefix}"
    tmp = Path(tempfile.mkdtemp())
    try:
        rows: list[tuple[str, str, str]] = []
        ping = await redis_baseline(redis_url)
        select1, update1 = await postgres_baselines(pg_url)
        sqlite1 = sqlite_baseline(tmp / "base.db")
        rows.append(("baseline", "redis PING", f"{ping:,.0f}/s"))
        rows.append(("baseline", "postgres SELECT 1", f"{select1:,.0f}/s"))
        rows.append(("baseline", "postgres UPDATE ... RETURNING", f"{update1:,.0f}/s"))
        rows.append(("baseline", "sqlite UPDATE ... RETURNING", f"{sqlite1:,.0f}/s"))
        urls = {
            "memory": ("memory://", None),
            "sqlite": (f"sqlite:///{tmp / 'bench.db'}", sqlite1),
            "postgres": (pg_url, update1),
            "redis": (redis_url, ping),
        }
        for kind, (url, base) in urls.items():
            got = await bench_service(kind, url, tmp)
            for name, value in got.items():
                text = f"{value:.2f}" if "ms" in name else f"{value:,.0f}/s"
                if base and "/s" in name:
                    text = ratio(value, base)
                rows.append((kind, name, text))
            print(f"{kind} done", file=sys.stderr, flush=True)
        size, index = await redis_bytes_per_session(redis_url)
        rows.append(("redis", "bytes per live session (session hash)", f"{size:.0f} B"))
        rows.append(("redis", "  + its entry in the user's index", f"{index} B"))
        admin.execute(f"CREATE SCHEMA {schema}_rows")
        rows_url = f"{POSTGRES}?options={quote(f'-csearch_path={schema}_rows')}"
        per_session = await postgres_rows_per_session(rows_url)
        rows.append(("postgres", "rows per session", f"{per_session:.2f}"))
        for kind in ("postgres", "redis"):
            size = await snapshot_after_denials(urls[kind][0])
            rows.append((kind, f"snapshot after {DENIALS:,} expired denials", str(size)))
        width = max(len(r[1]) for r in rows)
        for kind, name, value in rows:
            print(f"{kind:9} {name:{width}}  {value}")
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.execute(f"DROP SCHEMA IF EXISTS {schema}_rows CASCADE")
        admin.close()
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.unlink(key)
        client.close()


ROUNDS = 3
REVOCATIONS = 1000


async def rates(url: str) -> dict[str, float]:
    """Medians of ROUNDS rounds: rotations/s through TokenService.refresh,
    revocations/s through the store, one sequential caller."""
    svc = service(url, None)
    await svc.start()
    await svc.create_user("alice", PASSWORD)
    await rotate_chain(svc, 50)  # warm up
    rotations, revocations = [], []
    user = User(str(uuid.uuid4()), f"rv{secrets.token_hex(4)}", "h", (), time.time())
    await svc.store.create_user(user)
    for _ in range(ROUNDS):
        start = time.perf_counter()
        await rotate_chain(svc, ROTATIONS)
        rotations.append(ROTATIONS / (time.perf_counter() - start))
        now = time.time()
        made = [a_session(user.sub, now) for _ in range(REVOCATIONS)]
        for session in made:
            await svc.store.create_session(session)
        start = time.perf_counter()
        for session in made:
            await svc.store.revoke_session(session.sid, now, "logout")
        revocations.append(REVOCATIONS / (time.perf_counter() - start))
    await svc.close()
    return {
        "rotations/s": statistics.median(rotations),
        "revocations/s": statistics.median(revocations),
    }


async def ping_rate(port: int) -> float:
    client = redis.asyncio.Redis(port=port)
    await client.ping()
    took = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(ROTATIONS):
            await client.ping()
        took.append(ROTATIONS / (time.perf_counter() - start))
    await client.aclose()
    return statistics.median(took)


async def cluster_main(single_only: bool) -> None:
    prefix = f"jwt-bench-{secrets.token_hex(4)}"
    single = f"{REDIS}{'&' if '?' in REDIS else '?'}prefix={prefix}"
    rows: list[tuple[str, str, str]] = []
    try:
        base = await ping_rate(int(REDIS.split(":")[2].split("/")[0]))
        rows.append(("redis", "PING (baseline)", f"{base:,.0f}/s"))
        alone = await rates(single)
        for name, value in alone.items():
            rows.append(("redis", name, ratio(value, base)))
        if not single_only:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.stores.cluster import ThrowawayCluster

            with ThrowawayCluster() as cluster:
                node_base = await ping_rate(cluster.members[0].port)
                rows.append(("cluster", "PING to one node (baseline)", f"{node_base:,.0f}/s"))
                per: dict[str, dict[str, float]] = {}
                for wait in ("1", "0"):
                    url = f"{cluster.url}?prefix={prefix}-{wait}&wait={wait}"
                    per[wait] = await rates(url)
                    for name, value in per[wait].items():
                        rows.append((f"cluster wait={wait}", name, ratio(value, node_base)))
                cost = 1 / per["1"]["revocations/s"] - 1 / per["0"]["revocations/s"]
                rows.append(("cluster", "WAIT's cost per revocation", f"{cost * 1000:.2f} ms"))
                for name, value in per["1"].items():
                    versus = f"{value / alone[name]:.2f}x"
                    rows.append(("cluster wait=1", f"{name} / single-node's", versus))
        width = max(len(r[1]) for r in rows)
        for kind, name, value in rows:
            print(f"{kind:15} {name:{width}}  {value}")
    finally:
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.unlink(key)
        client.close()


if __name__ == "__main__":
    if "--cluster" in sys.argv or "--single" in sys.argv:
        asyncio.run(cluster_main(single_only="--single" in sys.argv))
    else:
        asyncio.run(main())
