"""create_app(service, settings) -> the ASGI app.

No module-level app and no global settings: collaborators come in through
the arguments (STYLE §5). ``app_from_environment`` is the factory uvicorn
imports when ``jwtwarden serve --workers N`` starts several processes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import logging.handlers
import queue
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..core.view import RevocationView
from ..errors import ConfigurationError, JwtWardenError
from ..service import TokenService
from ..settings import Settings
from ..verifier import Verifier
from .cookies import REFRESH_PATH, Cookies
from .endpoints import account, admin, browser, feed, health, oauth
from .endpoints.context import Context
from .endpoints.models import Ban, Login, NewUser, PasswordChange, Roles
from .errors import error_response
from .follower import RevocationFollower
from .metrics import Metrics
from .openapi import DOCS_HTML, Operation, openapi_document
from .requests import TrustedProxies

__all__ = ["app_from_environment", "create_app"]

logger = logging.getLogger("jwtwarden.server")
access_log = logging.getLogger("jwtwarden.access")

Endpoint = Callable[[Request], Awaitable[Response]]
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """INFO logs to stderr, written by a background thread: the event loop
    only queues each record, so the access log costs a request microseconds
    instead of a formatted write and flush."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    listener = logging.handlers.QueueListener(records, handler)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(_InProcessQueueHandler(records))
    root.setLevel(logging.INFO)
    listener.start()
    _listeners.append(listener)
    atexit.register(flush_logs)


_listeners: list[logging.handlers.QueueListener] = []


class _InProcessQueueHandler(logging.handlers.QueueHandler):
    """Queues the record as it is: the listener thread in this process
    formats it. (The stock ``prepare`` formats on the caller's thread, to make
    records picklable for other processes, which costs the request the very
    work the queue is there to move.)"""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def flush_logs() -> None:
    """Write out every queued log record (at shutdown: uvicorn re-raises
    SIGTERM after a graceful stop, so atexit handlers may never run)."""
    while _listeners:
        _listeners.pop().stop()


_AUTH_ERRORS = (400, 401, 403, 503)

#: The whole HTTP contract: (path, method) -> endpoint and its documentation.
OPERATIONS: dict[tuple[str, str], tuple[Endpoint, Operation]] = {
    ("/token", "post"): (
        oauth.token,
        Operation(
            "RFC 6749 token endpoint: password and refresh_token grants",
            "OAuth",
            form={
                "grant_type": True,
                "username": False,
                "password": False,
                "refresh_token": False,
                "client_id": False,
                "scope": False,
            },
            errors=(400, 413, 415, 429, 503),
        ),
    ),
    ("/revoke", "post"): (
        oauth.revocation,
        Operation(
            "RFC 7009 revocation: a refresh token ends its session, an access token is denied",
            "OAuth",
            form={"token": True, "token_type_hint": False},
            errors=(400, 413, 415, 503),
        ),
    ),
    ("/introspect", "post"): (
        oauth.introspection,
        Operation(
            "RFC 7662 introspection (resource-server client credentials)",
            "OAuth",
            form={"token": True, "token_type_hint": False},
            auth="basic",
            errors=(400, 401, 413, 415, 503),
        ),
    ),
    ("/.well-known/oauth-authorization-server", "get"): (
        oauth.metadata,
        Operation("RFC 8414 server metadata", "OAuth", errors=()),
    ),
    ("/.well-known/jwks.json", "get"): (
        oauth.jwks,
        Operation("Public keys (JWK Set)", "OAuth", errors=()),
    ),
    ("/me", "get"): (
        account.me,
        Operation("The caller's claims", "Account", auth="bearer", errors=(401, 503)),
    ),
    ("/sessions", "get"): (
        account.sessions,
        Operation("The caller's live sessions", "Account", auth="bearer", errors=(401, 503)),
    ),
    ("/sessions/{sid}", "delete"): (
        account.end_session,
        Operation(
            "End one of the caller's sessions",
            "Account",
            auth="bearer",
            ok=(204, "Ended"),
            errors=(401, 403, 404, 503),
            params=(("sid", "path"),),
        ),
    ),
    ("/logout", "post"): (
        account.logout,
        Operation(
            "End the current session",
            "Account",
            auth="bearer",
            ok=(204, "Ended"),
            errors=(401, 403, 503),
        ),
    ),
    ("/logout/all", "post"): (
        account.logout_all,
        Operation(
            "End every session of the caller (keep_current=true keeps this one)",
            "Account",
            auth="bearer",
            ok=(204, "Ended"),
            errors=(401, 403, 503),
            params=(("keep_current", "query"),),
        ),
    ),
    ("/password", "post"): (
        account.password,
        Operation(
            "Change password; every other session ends",
            "Account",
            body=PasswordChange,
            auth="bearer",
            ok=(204, "Changed"),
            errors=(400, 401, 403, 413, 415, 503),
        ),
    ),
    ("/admin/users", "post"): (
        admin.create_user,
        Operation(
            "Create a user",
            "Admin",
            body=NewUser,
            auth="bearer",
            ok=(201, "Created"),
            errors=(400, 401, 403, 409, 413, 415, 503),
        ),
    ),
    ("/admin/users/{sub}/revoke", "post"): (
        admin.revoke_user,
        Operation(
            "Cutoff now: every token of the user dies",
            "Admin",
            auth="bearer",
            ok=(204, "Revoked"),
            errors=(401, 403, 404, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/users/{sub}/ban", "post"): (
        admin.ban,
        Operation(
            "Ban until an instant",
            "Admin",
            body=Ban,
            auth="bearer",
            ok=(204, "Banned"),
            errors=(400, 401, 403, 404, 413, 415, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/users/{sub}/ban", "delete"): (
        admin.unban,
        Operation(
            "Lift a ban",
            "Admin",
            auth="bearer",
            ok=(204, "Lifted"),
            errors=(401, 403, 404, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/users/{sub}/roles", "put"): (
        admin.set_roles,
        Operation(
            "New roles; tokens with the old ones die",
            "Admin",
            body=Roles,
            auth="bearer",
            ok=(204, "Changed"),
            errors=(400, 401, 403, 404, 413, 415, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/users/{sub}/sessions", "get"): (
        admin.user_sessions,
        Operation(
            "A user's live sessions",
            "Admin",
            auth="bearer",
            errors=(401, 403, 404, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/sessions/{sid}", "delete"): (
        admin.end_session,
        Operation(
            "End any session",
            "Admin",
            auth="bearer",
            ok=(204, "Ended"),
            errors=(401, 403, 404, 503),
            params=(("sid", "path"),),
        ),
    ),
    ("/session/login", "post"): (
        browser.session_login,
        Operation(
            "Browser login: tokens in HttpOnly cookies",
            "Browser",
            body=Login,
            errors=(400, 403, 413, 415, 429, 503),
        ),
    ),
    (REFRESH_PATH, "post"): (
        browser.session_refresh,
        Operation(
            "Browser refresh (refresh cookie + X-CSRF-Token)",
            "Browser",
            auth="cookie",
            errors=(400, 403, 503),
        ),
    ),
    ("/session/logout", "post"): (
        browser.session_logout,
        Operation(
            "Browser logout (access cookie + X-CSRF-Token)",
            "Browser",
            auth="cookie",
            ok=(204, "Ended"),
            errors=(400, 403, 503),
        ),
    ),
    ("/revocations", "get"): (
        feed.revocations,
        Operation(
            "The revocation feed for resource servers (Server-Sent Events)",
            "OAuth",
            auth="basic",
            errors=(401, 503),
        ),
    ),
    ("/healthz", "get"): (health.healthz, Operation("Liveness", "Operations", errors=())),
    ("/readyz", "get"): (
        health.readyz,
        Operation("Store reachability", "Operations", errors=(503,)),
    ),
}


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
    origin = _origin(service.policy.issuer)
    origins = {origin, *(o.strip() for o in settings.allowed_origins.split(",") if o.strip())}
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
    )
    ctx = Context(service, settings, cookies, proxies, metrics, follower, verifier)
    document = openapi_document({k: op for k, (_, op) in OPERATIONS.items()}, __version__)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML)

    # The hot paths first: Starlette tries routes in order.
    hot = [("/me", "get"), ("/token", "post")]
    ordered = hot + [key for key in OPERATIONS if key not in hot]
    routes = [
        Route(path, OPERATIONS[(path, method)][0], methods=[method.upper()])
        for path, method in ordered
    ]
    routes += [
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
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

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={JwtWardenError: _handle_error, Exception: _handle_crash},
    )
    app.state.ctx = ctx
    app.add_middleware(_Wrap, wrap=metrics.middleware)
    if settings.access_log:
        app.add_middleware(_Wrap, wrap=_access_log)
    return app


def app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from ``JWTWARDEN_*``."""
    if not logging.getLogger().handlers:  # a worker process spawned by uvicorn
        configure_logging()
    settings = Settings()
    return create_app(TokenService.from_settings(settings), settings, manage_service=True)


async def _handle_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JwtWardenError)
    return error_response(exc)


async def _handle_crash(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
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
            logger.warning("purge failed: %s", exc.detail or exc.description)


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


class _Wrap:
    """Adapts a plain ``wrap(app) -> app`` function to Starlette middleware."""

    def __init__(self, app: ASGIApp, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        self._app = wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def _access_log(app: ASGIApp) -> ASGIApp:
    """One line per request: method, path (never the query string, which may
    carry a token), status, duration, client. No header or cookie is logged."""

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            access_log.info(
                '%s "%s %s" %d %.1fms',
                client[0],
                scope["method"],
                scope["path"],
                status[0],
                (time.perf_counter() - start) * 1000,
            )

    return logged
