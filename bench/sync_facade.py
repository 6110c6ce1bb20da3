"""Sync facade benchmark: calls/s of ``jwtwarden.sync.TokenService`` as a
ratio to the async ``jwtwarden.TokenService`` it wraps, measured in the
same run on the same store. Run: ``python bench/sync_facade.py`` (a few
minutes; ``--calls N --rounds N --stores memory,sqlite,postgres,redis``).

Per store (memory, a fresh SQLite file, a PostgreSQL schema, a Redis key
prefix, each removed at the end) and per operation:

- ``start_session`` for one of 50 application users (no password: the
  bring-your-own-users path);
- ``refresh``: each worker rotates its own session's refresh token;
- ``verify``: an access token checked against the store (signature,
  claims, revocations).

From 1 worker (sequential calls) and from 8 workers: 8 threads calling the
facade, against 8 tasks on one event loop calling the async service, the
async service's own way to run 8 at once. ``--calls`` calls per
measurement (bounded, split between the workers), median of ``--rounds``
rounds; each round measures both, the one that goes first alternating, so
that drift on a noisy machine hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _support import store_url

from jwtwarden import Policy, SystemClock, TokenPair
from jwtwarden import TokenService as AsyncService
from jwtwarden.keysource import EphemeralKeySource, FileKeySource, KeyManager
from jwtwarden.passwords import Passwords
from jwtwarden.stores import open_store
from jwtwarden.sync import TokenService as SyncService

OPERATIONS = ("start_session", "refresh", "verify")
WORKERS = (1, 8)
USERS = 50
#: Calls before measuring, on each fresh service: its pool opens, the
#: application users exist.
WARM_UP = 2 * USERS
ROLES = ("user",)


@dataclass
class Worker:
    """One worker's state: its user and its session's latest tokens."""

    sub: str
    pair: TokenPair


def async_service(url: str, keys: Path | None) -> AsyncService:
    source = EphemeralKeySource() if keys is None else FileKeySource(keys)
    return AsyncService(
        open_store(url),
        KeyManager(source, "EdDSA", 300),
        Policy(access_ttl=300, purge_interval=1e9),
        passwords=Passwords(time_cost=1, memory_cost=8, parallelism=1),
        clock=SystemClock(),
    )


async def async_calls(svc: AsyncService, op: str, workers: int, calls: int) -> float:
    """calls/s of ``op`` from ``workers`` tasks on this loop."""
    per = calls // workers
    states = [
        Worker(f"app-{w}", await svc.start_session(f"app-{w}", roles=ROLES)) for w in range(workers)
    ]

    async def run(state: Worker) -> None:
        for i in range(per):
            if op == "start_session":
                await svc.start_session(f"app-{i % USERS}", roles=ROLES)
            elif op == "refresh":
                state.pair = await svc.refresh(state.pair.refresh_token)
            else:
                await svc.verify(state.pair.access_token)

    start = time.perf_counter()
    await asyncio.gather(*(run(state) for state in states))
    return per * workers / (time.perf_counter() - start)


def sync_calls(svc: SyncService, op: str, workers: int, calls: int) -> float:
    """calls/s of ``op`` from ``workers`` threads."""
    per = calls // workers
    states = [
        Worker(f"app-{w}", svc.start_session(f"app-{w}", roles=ROLES)) for w in range(workers)
    ]
    barrier = threading.Barrier(workers + 1)
    errors: list[BaseException] = []

    def run(state: Worker) -> None:
        barrier.wait()
        try:
            for i in range(per):
                if op == "start_session":
                    svc.start_session(f"app-{i % USERS}", roles=ROLES)
                elif op == "refresh":
                    state.pair = svc.refresh(state.pair.refresh_token)
                else:
                    svc.verify(state.pair.access_token)
        except BaseException as exc:  # reported below, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(state,)) for state in states]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - start
    if errors:
        raise errors[0]
    return per * workers / took


def measure(url: str, keys: Path | None, calls: int, rounds: int) -> dict[tuple[str, int], Any]:
    """Medians of async and sync calls/s per (operation, workers)."""
    runs: dict[tuple[str, int, str], list[float]] = {}

    async def async_round() -> None:
        svc = async_service(url, keys)
        await svc.start()
        try:
            await async_calls(svc, "start_session", 1, WARM_UP)  # pool up, users made
            for op in OPERATIONS:
                for workers in WORKERS:
                    got = await async_calls(svc, op, workers, calls)
                    runs.setdefault((op, workers, "async"), []).append(got)
        finally:
            await svc.close()

    async def make() -> AsyncService:
        svc = async_service(url, keys)
        await svc.start()
        return svc

    def sync_round() -> None:
        with SyncService(make) as facade:
            sync_calls(facade, "start_session", 1, WARM_UP)
            for op in OPERATIONS:
                for workers in WORKERS:
                    got = sync_calls(facade, op, workers, calls)
                    runs.setdefault((op, workers, "sync"), []).append(got)

    for n in range(rounds):
        # Which goes first alternates, so that neither always meets a
        # warmer store or a quieter machine.
        if n % 2:
            sync_round()
            asyncio.run(async_round())
        else:
            asyncio.run(async_round())
            sync_round()
    return {
        (op, workers): (
            statistics.median(runs[(op, workers, "async")]),
            statistics.median(runs[(op, workers, "sync")]),
        )
        for op in OPERATIONS
        for workers in WORKERS
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=800, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stores", default="memory,sqlite,postgres,redis")
    args = parser.parse_args(argv)
    if not 8 <= args.calls <= 100_000 or not 1 <= args.rounds <= 20:
        parser.error("--calls is 8..100000, --rounds 1..20")
    work = Path(tempfile.mkdtemp(prefix="jwt-sync-bench-"))
    rows: list[tuple[str, str, int, float, float]] = []
    for kind in args.stores.split(","):
        with ExitStack() as stack:
            url = "memory://" if kind == "memory" else stack.enter_context(store_url(kind, work))
            keys = None if kind == "memory" else work / f"{kind}.keys"
            for (op, workers), (a, s) in measure(url, keys, args.calls, args.rounds).items():
                rows.append((kind, op, workers, a, s))
        print(f"{kind} done", file=sys.stderr, flush=True)
    show: Callable[[float], str] = lambda value: f"{value:,.0f}"  # noqa: E731
    print(f"{'store':9} {'operation':14} {'workers':>7} {'async/s':>9} {'sync/s':>9}  sync/async")
    for kind, op, workers, a, s in rows:
        print(f"{kind:9} {op:14} {workers:>7} {show(a):>9} {show(s):>9}  {s / a:.2f}")


if __name__ == "__main__":
    main()
