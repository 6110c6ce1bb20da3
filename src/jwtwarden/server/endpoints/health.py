"""Liveness and readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import StoreError
from .context import context

__all__ = ["healthz", "readyz"]


async def healthz(request: Request) -> Response:
    """The process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The store answers: 200, else 503."""
    try:
        await context(request).service.store.ping()
    except StoreError:
        return JSONResponse(
            {"status": "unavailable", "store": "unreachable"},
            status_code=503,
            headers={"retry-after": "1"},
        )
    return JSONResponse({"status": "ok", "store": "ok"})
