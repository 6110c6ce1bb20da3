"""The store circuit breaker (``stores/breaker.py``): closed, open after
``failures`` unavailable calls or one confirmed suspicion, failing at once
while open, releasing the calls that were waiting, probing in the
background, and closing on the first probe that passes. The probe is a
plain coroutine the test controls; the clock is injected."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from jwtwarden.errors import StoreConflictError, StoreUnavailableError
from jwtwarden.stores.breaker import BreakerPolicy, CircuitBreaker


class Server:
    """Whether "the server" is up, and what was asked of it."""

    def __init__(self) -> None:
        self.up = True
        self.probes = 0
        self.recovered = 0
        self.now = 100.0

    async def probe(self) -> None:
        self.probes += 1
        if not self.up:
            raise StoreUnavailableError(detail="down")

    async def recover(self) -> None:
        self.recovered += 1

    def breaker(self, failures: int = 3) -> CircuitBreaker:
        policy = BreakerPolicy(failures=failures, probe_interval=0.001, probe_timeout=0.5)
        return CircuitBreaker(
            "test", self.probe, policy, on_recover=self.recover, clock=lambda: self.now
        )


async def unavailable() -> None:
    raise StoreUnavailableError(detail="refused")


async def until(predicate: object, seconds: float = 2.0) -> None:
    """Let the breaker's background task run until ``predicate()``."""
    async with asyncio.timeout(seconds):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0)


async def test_it_opens_after_the_configured_failures_and_then_fails_at_once() -> None:
    server = Server()
    breaker = server.breaker(failures=3)
    server.up = False
    for _ in range(2):
        with pytest.raises(StoreUnavailableError):
            await breaker.call(unavailable)
    assert not breaker.is_open
    with pytest.raises(StoreUnavailableError):
        await breaker.call(unavailable)
    assert breaker.is_open and breaker.opened_at == 100.0
    called = []

    async def never() -> None:
        called.append(1)

    with pytest.raises(StoreUnavailableError) as refused:
        await breaker.call(never)
    assert called == [] and "circuit open" in (refused.value.detail or "")
    await breaker.close()


async def test_any_answer_resets_the_count() -> None:
    server = Server()

    async def conflict() -> None:
        raise StoreConflictError("taken")

    async def ok() -> int:
        return 1

    for answer in (ok, conflict):
        breaker = server.breaker(failures=2)
        with pytest.raises(StoreUnavailableError):
            await breaker.call(unavailable)
        with contextlib.suppress(StoreConflictError):
            await breaker.call(answer)
        with pytest.raises(StoreUnavailableError):
            await breaker.call(unavailable)
        assert not breaker.is_open


async def test_it_probes_while_open_and_closes_when_the_server_is_back() -> None:
    server = Server()
    breaker = server.breaker(failures=1)
    server.up = False
    with pytest.raises(StoreUnavailableError):
        await breaker.call(unavailable)
    await until(lambda: server.probes >= 3)
    assert breaker.is_open and server.recovered == 0
    server.up = True
    await until(lambda: not breaker.is_open)
    assert server.recovered == 1

    async def ok() -> str:
        return "answered"

    assert await breaker.call(ok) == "answered"


async def test_a_confirmed_suspicion_opens_it_and_releases_the_waiting_calls() -> None:
    server = Server()
    breaker = server.breaker(failures=1000)
    hang = asyncio.Event()

    async def waiting() -> None:
        await hang.wait()  # a pool that would wait its whole timeout

    calls = [asyncio.create_task(breaker.call(waiting)) for _ in range(5)]
    await asyncio.sleep(0)
    server.up = False
    breaker.suspect()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailableError) for r in results)
    assert breaker.is_open and server.probes >= 1
    await breaker.close()


async def test_an_unconfirmed_suspicion_changes_nothing() -> None:
    server = Server()
    breaker = server.breaker(failures=1)
    breaker.suspect()
    breaker.suspect()  # one probe at a time
    await until(
        lambda: server.probes == 1 and breaker._checking is not None and breaker._checking.done()
    )
    assert not breaker.is_open


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    server = Server()
    breaker = server.breaker()

    async def slow() -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(breaker.call(slow))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not breaker.is_open
