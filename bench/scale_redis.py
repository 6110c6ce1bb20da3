"""Capacity constants of the Redis store, single node and Cluster in one run
(issue 13, part 3). Run: ``python bench/scale_redis.py [SESSIONS]``
(default 1,000,000; about 10 min on this machine). It starts its own servers
and removes them: a throwaway ``redis-server`` on a free loopback port and a
6-node throwaway Cluster (tests/stores/cluster.py), never the shared 6379,
since it resets their statistics.

On each, in this order:

- rotations/s and their p50/p99, one process and four, through
  ``TokenService.refresh`` (``bench/stores.py``'s ``bench_service``, called,
  not copied), beside a bare ``PING`` round trip measured in the same run;
- commands and bytes per refresh: ``CONFIG RESETSTAT``, ``REFRESHES``
  refreshes through the service, then the ``INFO commandstats`` calls and
  the ``INFO stats`` client bytes in and out (replication bytes apart),
  summed over the primaries;
- bytes per session: ``used_memory`` summed over the primaries, before and
  after SESSIONS sessions (1,000 users) made through the store's own
  ``create_session``, so the layout is the real one (session hash, the
  user's index entry and, on Cluster, the sid pointer).

Writes ``bench/results/scale_redis.json`` for ``bench/capacity.py``. The
machine is shared and noisy: each rate is a median of three rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import redis

from jwtwarden import TokenService
from stores import a_session, bench_service, redis_baseline, service

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stores.cluster import ThrowawayCluster  # noqa: E402
from tests.stores.throwaway import ThrowawayRedis  # noqa: E402

from jwtwarden.core.sessions import Session  # noqa: E402
from jwtwarden.core.users import User  # noqa: E402
from jwtwarden.errors import StoreUnavailableError  # noqa: E402
from jwtwarden.stores import Store, open_store  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "correct horse battery"
REFRESHES = 2000
USERS = 1000
BATCH = 200
ROUNDS = 3


@contextlib.contextmanager
def servers() -> Iterator[dict[str, tuple[str, list[redis.Redis]]]]:
    """{"redis": (url, [its node]), "cluster": (url, [its primaries])}."""
    single, cluster = ThrowawayRedis(), ThrowawayCluster()
    clients: list[redis.Redis] = []
    try:
        single.start()
        cluster.start()
        clients = [redis.Redis(port=single.port)] + [n.client() for n in cluster.primaries()]
        yield {"redis": (single.url, clients[:1]), "cluster": (cluster.url, clients[1:])}
    finally:
        for client in clients:
            client.close()
        cluster.remove()
        single.remove()


def total(clients: list[redis.Redis], section: str, name: str) -> int:
    return sum(int(c.info(section).get(name, 0)) for c in clients)


def calls(clients: list[redis.Redis]) -> dict[str, int]:
    """``INFO commandstats`` calls per command, summed over the nodes,
    without the INFO and CONFIG calls this script makes itself."""
    out: dict[str, int] = {}
    for client in clients:
        for name, stats in client.info("commandstats").items():
            command = name.removeprefix("cmdstat_")
            if command not in ("info", "config|resetstat", "config"):
                out[command] = out.get(command, 0) + int(stats["calls"])
    return out


async def rotations(url: str, tmp: Path) -> dict[str, float]:
    rounds = []
    for i in range(ROUNDS):
        prefixed = f"{url}{'&' if '?' in url else '?'}prefix=rot{i}"
        rounds.append(await bench_service("redis", prefixed, tmp))
    out = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    if url.startswith("redis://"):
        out["PING/s"] = statistics.median([await redis_baseline(url) for _ in range(ROUNDS)])
    return out


async def per_refresh(url: str, clients: list[redis.Redis], tmp: Path) -> dict[str, float]:
    svc = service(f"{url}{'&' if '?' in url else '?'}prefix=cmd", tmp / "cmd.keys")
    await svc.start()
    await svc.create_user("alice", PASSWORD)
    token = (await svc.login("alice", PASSWORD)).refresh_token
    token = (await svc.refresh(token)).refresh_token  # scripts loaded, sid remembered
    for client in clients:
        client.config_resetstat()
    cpu = total_cpu(clients)
    before_in = total(clients, "stats", "total_net_input_bytes")
    before_out = total(clients, "stats", "total_net_output_bytes")
    before_repl = total(clients, "stats", "total_net_repl_output_bytes")
    for _ in range(REFRESHES):
        token = (await svc.refresh(token)).refresh_token
    counted = calls(clients)
    spent = total_cpu(clients) - cpu
    bytes_in = total(clients, "stats", "total_net_input_bytes") - before_in
    bytes_out = total(clients, "stats", "total_net_output_bytes") - before_out
    repl = total(clients, "stats", "total_net_repl_output_bytes") - before_repl
    revocation = await per_revocation(svc, clients)
    await svc.close()
    return {
        "server_cpu_us_per_refresh": spent / REFRESHES * 1e6,
        **revocation,
        "commands_per_refresh": sum(counted.values()) / REFRESHES,
        "commands": {k: round(v / REFRESHES, 3) for k, v in sorted(counted.items())},
        "client_bytes_in_per_refresh": bytes_in / REFRESHES,
        "client_bytes_out_per_refresh": bytes_out / REFRESHES,
        "replication_bytes_per_refresh": repl / REFRESHES,
    }


def total_cpu(clients: list[redis.Redis]) -> float:
    """CPU seconds the nodes spent, user and system, main thread included."""
    return sum(
        float(c.info("cpu")["used_cpu_user"]) + float(c.info("cpu")["used_cpu_sys"])
        for c in clients
    )


async def per_revocation(svc: TokenService, clients: list[redis.Redis]) -> dict[str, float]:
    """Server CPU and commands per session revocation (``revoke_session``,
    what a logout and a reuse do to the store, its feed event included)."""
    store, now = svc.store, time.time_ns() // 1000 / 1e6
    user = await store.find_user("alice")
    assert user is not None
    sessions = [a_session(user.sub, now) for _ in range(REFRESHES)]
    for session in sessions:
        await store.create_session(session)
    for client in clients:
        client.config_resetstat()
    cpu = total_cpu(clients)
    for session in sessions:
        await store.revoke_session(session.sid, now, "logout")
    spent = total_cpu(clients) - cpu
    return {
        "server_cpu_us_per_revocation": spent / REFRESHES * 1e6,
        "commands_per_revocation": sum(calls(clients).values()) / REFRESHES,
    }


async def _made(store: Store, batch: list[Session]) -> None:
    """Create a batch; on a loaded machine the store's breaker may open for a
    moment: wait and make the batch again (creating a session twice writes
    the same keys)."""
    for _ in range(20):
        try:
            await asyncio.gather(*(store.create_session(s) for s in batch))
            return
        except StoreUnavailableError:
            await asyncio.sleep(1)
    raise SystemExit("the store stayed unavailable")


async def bytes_per_session(url: str, clients: list[redis.Redis], n: int) -> dict[str, float]:
    store = open_store(f"{url}{'&' if '?' in url else '?'}prefix=mem")
    now = time.time_ns() // 1000 / 1e6
    users = [User(str(uuid.uuid4()), f"user{i}", "h", (), now) for i in range(USERS)]
    for user in users:
        await store.create_user(user)
    before = total(clients, "memory", "used_memory")
    started = time.monotonic()
    for start in range(0, n, BATCH):
        batch = [a_session(users[i % USERS].sub, now) for i in range(start, min(n, start + BATCH))]
        await _made(store, batch)
        if start and start % 100_000 == 0:
            print(f"  {start:,} sessions, {time.monotonic() - started:.0f} s", file=sys.stderr)
    after = total(clients, "memory", "used_memory")
    await store.close()
    return {
        "sessions": n,
        "bytes_per_session": (after - before) / n,
        "used_memory_bytes": after,
        "load_seconds": time.monotonic() - started,
    }


async def main(sessions: int) -> None:
    results: dict[str, object] = {
        "benchmark": "bench/scale_redis.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "note": "shared, noisy machine (other engineers' tests running); medians of 3 rounds",
    }
    with tempfile.TemporaryDirectory() as tmp, servers() as found:
        for kind, (url, clients) in found.items():
            print(f"{kind}: rotations", file=sys.stderr, flush=True)
            got: dict[str, object] = {"rotations": await rotations(url, Path(tmp))}
            print(f"{kind}: commands per refresh", file=sys.stderr, flush=True)
            got["per_refresh"] = await per_refresh(url, clients, Path(tmp))
            print(f"{kind}: {sessions:,} sessions", file=sys.stderr, flush=True)
            got["memory"] = await bytes_per_session(url, clients, sessions)
            got["nodes"] = len(clients)
            results[kind] = got
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_redis.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def machine() -> str:
    import os
    import platform

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{platform.node()}: {os.cpu_count()} cores, {model}, Linux {platform.release()}"


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
