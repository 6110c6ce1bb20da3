"""The edge of the app: what every HTTP request passes through, in one
pure-ASGI layer, and the short way in for the hottest routes.

- One ``send`` wrapper gives each response its security headers
  (:mod:`~jwtwarden.server.headers`), times it into the latency histogram
  (:mod:`~jwtwarden.server.metrics`) and writes its access-log line
  (:mod:`~jwtwarden.server.access_log`). Three separate middlewares each
  wrapping ``send`` cost ``GET /me`` about 5 µs of CPU per request more
  (measured in process, 2026-12-02).
- ``GET /me`` and ``POST /token`` (the traffic a token server lives on)
  go straight from here to their endpoints, past Starlette's exception
  middleware, router and request-response wrapper, which are the same for
  every route and cost about 15 µs per request on a pinned core (a bare
  uvicorn app answers in 18 µs, Starlette's hello in 34 µs:
  bench/server.py's method, 2026-12-02). The endpoints are the ones of the
  route table; their errors are answered by the same handlers Starlette's
  exception middleware would call (``handlers``), and anything else
  propagates to Starlette's error middleware, outside this layer, as from
  any route.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .headers import with_security_headers
from .metrics import Metrics

__all__ = ["Edge"]

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]


class Edge:
    """Wrap ``app``: headers, metrics and the access log (``log``, a sink
    for finished access messages, or ``None`` when the log is off) on every
    HTTP response; ``hot`` routes, by ``(method, path)``, answered here by
    their endpoints, their errors by ``handlers`` (exception class →
    handler, looked up along the MRO)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        log: Callable[[str, str, str, int, float], None] | None,
        hot: Mapping[tuple[str, str], Endpoint],
        handlers: Mapping[type[Exception], Handler],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.log = log
        self.hot = dict(hot)
        self.handlers = dict(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500
        method, path = scope["method"], scope["path"]
        endpoint = self.hot.get((method, path))

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = with_security_headers(list(message.get("headers", ())))
            await send(message)

        try:
            if endpoint is None:
                await self.app(scope, receive, sending)
            else:
                await self._answer(endpoint, scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - start
            route = path if endpoint is not None else _route_of(scope)
            self.metrics.observe(method, route, status, elapsed)
            if self.log is not None:
                client = scope.get("client") or ("-", 0)
                self.log(client[0], method, path, status, elapsed * 1000)

    async def _answer(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


def _route_of(scope: Scope) -> str:
    """The matched route's template (Starlette puts the route in the
    scope), so the metric's labels stay bounded."""
    route: Any = scope.get("route")
    return getattr(route, "path", "unmatched")
