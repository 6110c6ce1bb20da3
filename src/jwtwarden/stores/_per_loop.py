"""One driver resource per event loop, for the stores that need a network client.

A psycopg pool and a redis-py client belong to the event loop that opened
them, and a service may be driven by several loops (``asyncio.run`` per call
from synchronous code, a server's worker threads). :class:`PerLoop` opens the
resource once per loop, even when many tasks ask for it at once, and closes
it with the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

__all__ = ["PerLoop"]

_R = TypeVar("_R")


class PerLoop(Generic[_R]):
    """The resource ``open()`` makes, one per running event loop.

    ``open`` may fail (the server is down): the error reaches every task
    waiting for it, and the next :meth:`get` tries again.
    """

    def __init__(
        self,
        open: Callable[[], Coroutine[Any, Any, _R]],
        close: Callable[[_R], Awaitable[None]],
    ) -> None:
        self._open = open
        self._close = close
        self._items: dict[asyncio.AbstractEventLoop, _R] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Task[_R]] = {}

    def current(self) -> _R | None:
        """The running loop's resource, if it has been opened."""
        return self._items.get(asyncio.get_running_loop())

    async def get(self) -> _R:
        """The running loop's resource, opened on first use."""
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is not None:
            return item
        task = self._opening.get(loop)
        if task is None:
            task = self._opening[loop] = loop.create_task(self._open())
        try:
            # Shielded: one caller's cancellation must not cancel the opening
            # that other callers of this loop are waiting for.
            item = await asyncio.shield(task)
        finally:
            if task.done():
                self._opening.pop(loop, None)
        self._items[loop] = item
        return item

    async def close(self) -> None:
        """Close the running loop's resource; those of other (finished) loops
        are dropped, since they cannot be closed from here."""
        item = self._items.pop(asyncio.get_running_loop(), None)
        self._items.clear()
        for task in self._opening.values():
            task.cancel()
        self._opening.clear()
        if item is not None:
            await self._close(item)
