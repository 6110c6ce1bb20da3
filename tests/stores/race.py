"""Four processes × 13 concurrent refreshes of one refresh token, on one
store URL (a SQLite file, PostgreSQL or Redis): exactly one child lineage.
The signing keys are shared through a key file."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jwtwarden import Policy, TokenService
from jwtwarden.clock import SystemClock
from jwtwarden.keysource import FileKeySource, KeyManager
from jwtwarden.stores import open_store
from tests.conftest import CHEAP_TEST_PASSWORDS

PASSWORD = "correct horse battery"
PROCESSES, TASKS = 4, 13


def service(url: str, keys: str) -> TokenService:
    return TokenService(
        open_store(url),
        KeyManager(FileKeySource(keys), "EdDSA", 300),
        Policy(),
        passwords=CHEAP_TEST_PASSWORDS,
        clock=SystemClock(),
    )


def _worker(url: str, keys: str, token: str, barrier: Any, out: Any) -> None:
    async def main() -> list[tuple[str, str]]:
        svc = service(url, keys)
        await svc.start()
        await svc.store.ping()  # connect before the barrier, so the race is a race
        barrier.wait()
        results = []
        for outcome in await asyncio.gather(
            *(svc.refresh(token) for _ in range(TASKS)), return_exceptions=True
        ):
            if isinstance(outcome, BaseException):
                results.append(("err", type(outcome).__name__))
            else:
                results.append(("ok", outcome.refresh_token))
        await svc.close()
        return results

    out.put(asyncio.run(main()))


async def four_processes_make_one_lineage(url: str, tmp_path: Path) -> None:
    keys = str(tmp_path / "race.keys")
    svc = service(url, keys)
    await svc.start()
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)

    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    target: Callable[..., None] = _worker
    procs = [
        ctx.Process(target=target, args=(url, keys, pair.refresh_token, barrier, out))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = [r for _ in procs for r in await asyncio.to_thread(out.get, True, 120)]
    for p in procs:
        p.join(timeout=30)
    assert len(results) == PROCESSES * TASKS
    children = {value for status, value in results if status == "ok"}
    assert len(children) == 1, results
    session = await svc.get_session(pair.sid)
    assert session.generation == 1 and session.revoked_at is None
    await svc.refresh(children.pop())  # the lineage goes on
    await svc.close()
