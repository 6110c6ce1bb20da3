"""CircuitBreaker: a store known to be down is answered for at once.

Without it, every request that needs a stopped PostgreSQL waits the pool's
timeout (seconds) before its 503, and the pool's own reconnection backoff
delays recovery by seconds more. The breaker *opens* after
``failures`` consecutive :class:`~jwtwarden.errors.StoreUnavailableError`\\ s,
or at once when a store that *suspects* an outage (a broken connection, a
connection that takes longer than ``probe_interval`` to get) has it
confirmed by one probe. Open, every call fails at once with
StoreUnavailableError (a 503 with ``Retry-After``), the calls that were
waiting are released with it too, and a background task probes the server
every ``probe_interval`` seconds, each probe bounded by ``probe_timeout``. The
first probe that succeeds runs ``on_recover`` (the PostgreSQL store drops its
backed-off pool for a fresh one) and closes the breaker. Any answer from the
store, a conflict included, resets the count. One mechanism for the network
stores (PostgreSQL, Redis); docs/stores.md, "Outages".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import StoreUnavailableError

__all__ = ["BreakerPolicy", "CircuitBreaker"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a store counts as down, and how it is watched meanwhile
    (``JWTWARDEN_STORE_BREAKER_*``)."""

    #: Consecutive unavailable calls that open the breaker.
    failures: int = 3
    #: Seconds between two probes while open: the recovery delay at most.
    probe_interval: float = 0.2
    #: Seconds one probe may take.
    probe_timeout: float = 1.0


class CircuitBreaker:
    """Fail fast while ``probe`` cannot reach the store; see the module."""

    def __init__(
        self,
        name: str,
        probe: Callable[[], Awaitable[object]],
        policy: BreakerPolicy | None = None,
        *,
        on_recover: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._probe = probe
        self._on_recover = on_recover
        self._clock = clock
        self._failures = 0
        #: When the breaker opened (clock time), or ``None`` while closed.
        self.opened_at: float | None = None
        self._prober: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[None] | None = None
        #: The calls in flight, released when the breaker opens.
        self._calls: set[asyncio.Task[Any]] = set()
        self._released: set[asyncio.Task[Any]] = set()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    async def call(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        """``fn()``, unless the store is known to be down: then
        StoreUnavailableError at once."""
        if self.opened_at is not None:
            self._ensure_prober()
            raise self._down()
        task = asyncio.current_task()
        if task is not None:
            self._calls.add(task)
        try:
            result = await fn()
        except StoreUnavailableError:
            self._failed()
            raise
        except asyncio.CancelledError:
            # Released by _open: the store is down (another cancellation,
            # a client gone, stays one).
            if task in self._released:
                self._released.discard(task)
                if task is not None and task.uncancel() == 0:
                    raise self._down() from None
            raise
        except Exception:  # the store answered (a conflict): it is up
            self._failures = 0
            raise
        finally:
            if task is not None:
                self._calls.discard(task)
                if task in self._released:  # a driver turned our cancellation into an error
                    self._released.discard(task)
                    task.uncancel()
        self._failures = 0
        return result

    def suspect(self) -> None:
        """The store may be down (a broken connection, a slow one): probe
        once, now, and open if the probe fails. Safe to call often."""
        if self.opened_at is not None or (self._checking and not self._checking.done()):
            return
        self._checking = asyncio.get_running_loop().create_task(self._check())

    async def _check(self) -> None:
        try:
            async with asyncio.timeout(self.policy.probe_timeout):
                await self._probe()
        except Exception:  # down: no need to wait for more failures
            self._open()

    def _down(self) -> StoreUnavailableError:
        return StoreUnavailableError(detail=f"{self.name}: down (circuit open), probing")

    async def close(self) -> None:
        """Stop probing (the store is closing)."""
        for task in (self._prober, self._checking):
            if task is not None and not task.done():
                task.cancel()
                if task.get_loop() is asyncio.get_running_loop():
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        self._prober = self._checking = None

    def _failed(self) -> None:
        self._failures += 1
        if self._failures >= self.policy.failures:
            self._open()

    def _open(self) -> None:
        if self.opened_at is not None:
            return
        self.opened_at = self._clock()
        logger.warning(
            "%s is down: answering 503 at once, probing every %ss",
            self.name,
            self.policy.probe_interval,
        )
        loop, current = asyncio.get_running_loop(), asyncio.current_task()
        for task in list(self._calls):
            if task is not current and task.get_loop() is loop:
                self._released.add(task)
                task.cancel()
        self._ensure_prober()

    def _ensure_prober(self) -> None:
        """A prober in the running loop, unless one runs (one whose loop
        ended is replaced)."""
        prober = self._prober
        if prober is not None and not prober.done() and not prober.get_loop().is_closed():
            return
        self._prober = asyncio.get_running_loop().create_task(self._probe_until_up())

    async def _probe_until_up(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.policy.probe_timeout):
                    await self._probe()
                break
            except Exception:  # any failure: still down
                await asyncio.sleep(self.policy.probe_interval)
        if self._on_recover is not None:
            try:
                await self._on_recover()
            except Exception:
                logger.exception("%s: recovering failed", self.name)
        down_for = self._clock() - (self.opened_at or self._clock())
        self._failures, self.opened_at = 0, None
        logger.warning("%s is back after %.2fs", self.name, down_for)
