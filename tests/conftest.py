"""Shared fixtures: a frozen clock, cheap password hashing, services and
stores.

Argon2 parameters here are CHEAP_TEST_ARGON2 (t=1, m=8 KiB, p=1), chosen so
the suite stays fast; the defaults in ``Settings`` stay strong.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jwtwarden import FrozenClock, Policy, TokenService
from jwtwarden.events import Event
from jwtwarden.keysource import EphemeralKeySource, FileKeySource, KeyManager
from jwtwarden.passwords import Passwords
from jwtwarden.stores import Store, open_store
from tests.stores.cluster import ThrowawayCluster

#: Cheap argon2id parameters for tests only.
CHEAP_TEST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
CHEAP_TEST_PASSWORDS = Passwords(**CHEAP_TEST_ARGON2)


#: Markers of tests that need an outside part (a server, node and its
#: packages): they skip, saying why, where it is missing, and fail under
#: CI=true, where a missing part must not pass silently.
NEVER_SKIPPED_IN_CI = ("store", "node", "browser", "cluster")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "store: a test of a store backend; never skipped in CI")
    config.addinivalue_line(
        "markers",
        "node: needs node and tests/interop/node's packages (npm ci); never skipped in CI",
    )
    config.addinivalue_line(
        "markers",
        "browser: drives Debian's chromium with Playwright (tests/browser); never skipped in CI",
    )
    config.addinivalue_line(
        "markers",
        "cluster: runs on a local Redis Cluster (tests/stores/cluster.py); never skipped in CI",
    )
    config.addinivalue_line(
        "markers",
        "throwaway: runs on servers the suite started (tests/stores/throwaway.py), "
        "because it restarts, reconfigures, flushes or kills connections",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI=true a skipped test marked with one of NEVER_SKIPPED_IN_CI is
    a failure: a backend whose server is down, or a Node test without its
    packages, must not pass silently."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped:
        return
    marker = next((m for m in NEVER_SKIPPED_IN_CI if item.get_closest_marker(m)), None)
    if marker is not None:
        report.outcome = "failed"
        report.longrepr = f"{marker} test skipped under CI=true: {report.longrepr}"


def store_url(kind: str, tmp_path: Path) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'jwtwarden.db'}"
    raise ValueError(kind)


#: Every backend the contract suite runs against.
STORE_KINDS = ["memory", "sqlite"]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ThrowawayCluster]:
    """One throwaway Redis Cluster for the whole run (2-6 s to start); each
    test takes its own key prefix (``redis_cluster.prefix()``)."""
    with ThrowawayCluster() as cluster:
        yield cluster


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000.0)


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(store_url(request.param, tmp_path))
    yield s
    await s.close()


ServiceFactory = Callable[..., Awaitable[TokenService]]


@pytest.fixture
async def make_service(
    clock: FrozenClock, events: list[Event], tmp_path: Path
) -> AsyncIterator[ServiceFactory]:
    """Build started services; ``store`` is a URL or kind, the rest are
    Policy fields. Closed at teardown."""
    made: list[TokenService] = []

    async def factory(store: str = "memory", **policy: Any) -> TokenService:
        url = store if "://" in store else store_url(store, tmp_path)
        s = open_store(url)
        source = EphemeralKeySource() if url == "memory://" else FileKeySource(tmp_path / "keys")
        pol = Policy(**policy)
        keys = KeyManager(source, pol.algorithm, keep_retired_for=pol.revocation_horizon)
        service = TokenService(
            s, keys, pol, passwords=CHEAP_TEST_PASSWORDS, clock=clock, on_event=events.append
        )
        await service.start()
        made.append(service)
        return service

    yield factory
    for service in made:
        await service.close()


@pytest.fixture
async def service(make_service: ServiceFactory) -> TokenService:
    return await make_service()
