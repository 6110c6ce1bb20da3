"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .context import context

__all__ = ["READY_WITHIN", "healthz", "readyz"]

#: Seconds the store may take to answer /readyz: a probe (a load balancer's)
#: gets its answer within 100 ms whatever the store does.
READY_WITHIN = 0.08


async def healthz(request: Request) -> Response:
    """The process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The store answers within :data:`READY_WITHIN`: 200, else 503 (at once
    while the store's circuit breaker knows it is down)."""
    # The ping runs as a task of its own and is waited for, never cancelled:
    # a driver may take its time over a cancellation (psycopg tries to cancel
    # the query on the server), and the answer must not wait for that.
    ping = asyncio.ensure_future(context(request).service.store.ping())
    done, _ = await asyncio.wait({ping}, timeout=READY_WITHIN)
    if not done:
        ping.add_done_callback(_consume)
    if not done or ping.exception() is not None:
        return JSONResponse(
            {"status": "unavailable", "store": "unreachable"},
            status_code=503,
            headers={"retry-after": "1"},
        )
    return JSONResponse({"status": "ok", "store": "ok"})


def _consume(task: asyncio.Future[None]) -> None:
    """Retrieve a late ping's outcome, so that its error is not logged as
    never retrieved."""
    if not task.cancelled():
        task.exception()
