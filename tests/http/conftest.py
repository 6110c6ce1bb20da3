"""The real ASGI app, driven through httpx.ASGITransport, black-box."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from jwtwarden import FrozenClock, Settings, TokenService
from jwtwarden.server import create_app
from tests.conftest import CHEAP_TEST_ARGON2, ServiceFactory

PASSWORD = "correct horse battery"
BASE = "https://auth.example.test"


@dataclass
class Harness:
    client: httpx.AsyncClient
    service: TokenService
    clock: FrozenClock
    #: The ASGI app itself, for tests that drive it below HTTP (aborts).
    app: Any = None

    async def login(
        self, username: str = "alice", password: str = PASSWORD, **headers: str
    ) -> dict[str, Any]:
        r = await self.client.post(
            "/token",
            data={"grant_type": "password", "username": username, "password": password},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def refresh(self, token: str) -> httpx.Response:
        return await self.client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": token}
        )

    def bearer(self, token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"}


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness(
    make_service: ServiceFactory,
    clock: FrozenClock,
) -> AsyncIterator[MakeHarness]:
    clients: list[httpx.AsyncClient] = []

    async def factory(
        store: str = "memory", settings: dict[str, Any] | None = None, **policy: Any
    ) -> Harness:
        service = await make_service(store, issuer=BASE, **policy)
        await service.create_user("alice", PASSWORD, roles=["user"])
        await service.create_user("root", PASSWORD, roles=["admin"])
        cfg = Settings(
            store="memory://",
            issuer=BASE,
            **{f"argon2_{k}": v for k, v in CHEAP_TEST_ARGON2.items()},
            **(settings or {}),
        )  # type: ignore[arg-type]
        app = create_app(service, cfg)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("192.0.2.10", 5555)), base_url=BASE
        )
        clients.append(client)
        return Harness(client, service, clock, app)

    yield factory
    for c in clients:
        await c.aclose()


#: Tests that hold only on the memory store, not run on the cluster: they
#: read the memory store's internals, or the order of two sessions begun at
#: the same frozen instant (a store orders ties its own way).
MEMORY_ONLY = {
    "test_token_endpoint_errors_per_rfc6749_5_2",  # reads MemoryStore._sessions
    "test_sessions_list_and_end_one",  # two logins at one frozen instant
    "test_sessions_name_each_device",  # idem
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = [i for i in items if not ("[cluster" in i.name and i.originalname in MEMORY_ONLY)]  # type: ignore[attr-defined]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


@pytest.fixture(params=["memory", pytest.param("cluster", marks=pytest.mark.cluster)])
async def h(make_harness: MakeHarness, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The app on the memory store, and on the suite's Redis Cluster (a key
    prefix of its own; tests/stores/cluster.py)."""
    if request.param == "memory":
        yield await make_harness()
        return
    cluster = request.getfixturevalue("redis_cluster")
    with cluster.prefix() as prefix:
        yield await make_harness(f"{cluster.url}?prefix={prefix}")
