"""Many refreshes of one refresh token at once: exactly one child lineage.

Threads each run their own event loop against one service; on SQLite, four
processes share one file. Whoever loses the compare-and-swap re-reads and,
inside the grace window, gets the very child the winner minted.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from jwtwarden import InvalidGrantError, TokenService
from tests.conftest import ServiceFactory
from tests.stores.race import four_processes_make_one_lineage

PASSWORD = "correct horse battery"


def race_threads(svc: TokenService, token: str, n: int) -> list[tuple[str, str]]:
    barrier = threading.Barrier(n)
    results: list[tuple[str, str]] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        try:
            outcome = ("ok", asyncio.run(svc.refresh(token)).refresh_token)
        except InvalidGrantError as exc:
            outcome = ("err", type(exc).__name__)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_fifty_threads_refreshing_one_token_make_one_lineage(
    make_service: ServiceFactory, kind: str
) -> None:
    svc = await make_service(kind)
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    results = await asyncio.to_thread(race_threads, svc, pair.refresh_token, 50)
    children = {value for status, value in results if status == "ok"}
    assert len(results) == 50
    assert len(children) == 1, results
    session = await svc.get_session(pair.sid)
    assert session.generation == 1 and session.revoked_at is None
    await svc.refresh(children.pop())  # the lineage goes on


async def test_fifty_concurrent_tasks_in_one_loop(make_service: ServiceFactory) -> None:
    svc = await make_service("sqlite")
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    results = await asyncio.gather(*(svc.refresh(pair.refresh_token) for _ in range(50)))
    assert len({r.refresh_token for r in results}) == 1
    assert (await svc.get_session(pair.sid)).generation == 1


async def test_strict_mode_race_never_yields_two_live_children(
    make_service: ServiceFactory,
) -> None:
    svc = await make_service("memory", refresh_grace=0)
    await svc.create_user("alice", PASSWORD)
    pair = await svc.login("alice", PASSWORD)
    results = await asyncio.to_thread(race_threads, svc, pair.refresh_token, 50)
    children = {value for status, value in results if status == "ok"}
    assert len(children) <= 1
    assert (await svc.get_session(pair.sid)).generation == 1


async def test_four_processes_on_one_sqlite_file_make_one_lineage(tmp_path: Path) -> None:
    await four_processes_make_one_lineage(f"sqlite:///{tmp_path / 'race.db'}", tmp_path)
