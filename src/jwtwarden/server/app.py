"""create_app(service, settings) -> the ASGI app.

No module-level app and no global settings: collaborators come in through
the arguments (STYLE §5). ``app_from_environment`` is the factory uvicorn
imports when ``jwtwarden serve --workers N`` starts several processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import __version__
from ..core.view import RevocationView
from ..errors import ConfigurationError, JwtWardenError
from ..events import log_value
from ..service import TokenService
from ..settings import Settings
from ..verifier import Verifier
from .access_log import access_sink, configure_logging, flush_logs
from .account_page import AccountPage
from .cookies import Cookies
from .cors import CrossOrigin, parse_origins
from .edge import Edge
from .endpoints.context import Context
from .errors import error_response
from .follower import RevocationFollower
from .metrics import Metrics
from .openapi import docs, docs_file, openapi_document
from .requests import TrustedProxies
from .routes import OPERATIONS, path_routes

__all__ = ["app_from_environment", "create_app"]

logger = logging.getLogger("jwtwarden.server")

#: Verified access tokens the server's own verifier keeps: an entry is the
#: token and its claims, about 3 KB (tracemalloc), so 4,096 entries are about
#: 12 MB at most. A token not held costs one signature check (~50 us).
SERVER_TOKEN_CACHE = 4096


def create_app(
    service: TokenService, settings: Settings, *, manage_service: bool = False
) -> Starlette:
    """The jwtwarden ASGI app around ``service``.

    With ``manage_service`` the app starts the service (loads or creates the
    keys) at startup and closes its store at shutdown; otherwise the caller
    owns the service's life.
    """
    try:
        proxies = TrustedProxies(settings.trusted_proxies)
    except ValueError as exc:
        raise ConfigurationError(f"JWTWARDEN_TRUSTED_PROXIES: {exc}") from exc
    try:
        front_ends = parse_origins(settings.allowed_origins)
    except ValueError as exc:
        raise ConfigurationError(f"JWTWARDEN_ALLOWED_ORIGINS: {exc}") from exc
    origins = {_origin(service.policy.issuer), *front_ends}
    cookies = Cookies(
        insecure=settings.insecure_cookies,
        secret=lambda: service.keys.ring.mac_secret,
        origins=origins,
    )
    metrics = Metrics()
    service.subscribe(metrics.on_event)
    follower = RevocationFollower(
        service.store,
        RevocationView(),
        clock=service.clock,
        horizon=service.policy.revocation_horizon,
    )
    verifier = Verifier(
        issuer=service.policy.issuer,
        audience=service.policy.audience,
        keys=[],
        view=follower.view,
        leeway=service.policy.leeway,
        clock=service.clock,
        cache_size=SERVER_TOKEN_CACHE,
        max_lifetime=service.policy.access_ttl,
    )
    ctx = Context(service, settings, cookies, proxies, metrics, follower, verifier)
    document = openapi_document({k: op for k, (_, op) in OPERATIONS.items()}, __version__)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    # /me and POST /token are answered by the edge layer before routing.
    routes = path_routes(list(OPERATIONS))
    routes += [
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/docs/{name}", docs_file, methods=["GET"]),
        *AccountPage().routes(),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_service:
            await service.start()
            _drain_on_sigterm(ctx)
        await follower.load()
        tasks = [asyncio.create_task(_purge_forever(service)), asyncio.create_task(follower.run())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if manage_service:
                await service.close()
            logger.info("stopped: in-flight requests finished, store closed")
            if manage_service:
                flush_logs()

    handlers = {
        JwtWardenError: _handle_error,
        HTTPException: _handle_http,
        ClientDisconnect: _handle_disconnect,
    }
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={**handlers, Exception: _handle_crash},
    )
    app.state.ctx = ctx
    app.add_middleware(
        Edge,
        metrics=metrics,
        log=access_sink() if settings.access_log else None,
        hot={(m.upper(), path): OPERATIONS[(path, m)][0] for path, m in HOT_ROUTES},
        handlers=handlers,
    )
    if front_ends:
        # Outside the edge layer, which answers GET /me itself: a listed
        # front end's cross-origin call to it needs the CORS headers too.
        app.add_middleware(CrossOrigin, origins=front_ends)
    return app


#: The routes a token server lives on, answered by :class:`Edge` itself.
HOT_ROUTES = (("/me", "get"), ("/token", "post"))


def app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from ``JWTWARDEN_*``."""
    if not logging.getLogger().handlers:  # a worker process spawned by uvicorn
        configure_logging()
    settings = Settings()
    return create_app(TokenService.from_settings(settings), settings, manage_service=True)


async def _handle_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JwtWardenError)
    return error_response(exc)


#: Codes of the protocol-level refusals Starlette raises itself.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _handle_http(request: Request, exc: Exception) -> Response:
    """404, 405 and the like as JSON ``{"error", "error_description"}``
    too (DESIGN: every error outside the RFC endpoints is JSON)."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request")
    description = {
        404: "No such endpoint.",
        405: f"Method not allowed; use {(exc.headers or {}).get('Allow', 'another method')}.",
    }.get(exc.status_code, "The request was refused.")
    return JSONResponse(
        {"error": code, "error_description": description},
        status_code=exc.status_code,
        headers=exc.headers,
    )


#: Not a status any response can reach the client with: the client is gone.
#: nginx's "client closed request", so the access log and the metrics show
#: what happened instead of a 5xx nobody caused.
CLIENT_CLOSED_REQUEST = 499


async def _handle_disconnect(request: Request, exc: Exception) -> Response:
    """The client hung up before its body arrived (short of its
    Content-Length, or a broken chunk the server had to give up on). Not a
    server failure: no ERROR line, no 5xx in the metrics, one INFO line."""
    logger.info("client disconnected during %s %s", request.method, log_value(request.url.path))
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _handle_crash(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, log_value(request.url.path))
    return JSONResponse(
        {"error": "server_error", "error_description": "The server failed."}, status_code=500
    )


async def _purge_forever(service: TokenService) -> None:
    """Purge expired state on a timer too, so an idle server stays small."""
    while True:
        await asyncio.sleep(service.policy.purge_interval)
        try:
            await service.purge()
        except JwtWardenError as exc:
            logger.warning("purge failed: %s", log_value(exc.detail or exc.description))


def _drain_on_sigterm(ctx: Context) -> None:
    """On SIGTERM, also tell long-lived streams (``/revocations``) to end, so
    the graceful shutdown is not held up by them; then let uvicorn's own
    handler run. (uvicorn only waits for in-flight requests to finish.)"""
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return

    def drain(signum: int, frame: Any) -> None:
        ctx.draining = True
        previous(signum, frame)

    signal.signal(signal.SIGTERM, drain)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
