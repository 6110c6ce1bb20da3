"""A synchronous :class:`TokenService`, for WSGI frameworks (Flask, Django),
scripts and threads.

The async service runs on one private event loop, on a thread of its own;
each call is handed to that loop and the calling thread waits for its
answer. So every connection pool the store opens belongs to that one loop
(one pool, not one per call), any number of threads can call at once, and
:meth:`TokenService.close` closes the store's connections on the loop that
opened them before it stops the thread.

Why not ``asyncio.run`` around each call: every run is a new loop, and a
pool belongs to the loop that opened it, so each call opened connections
that no later call could use or close (101 Redis connections after 100
calls, still open after ``close()``), and a PostgreSQL pool left on a dead
loop held the interpreter at exit.

The loop thread is a daemon and every facade still open at interpreter
exit is closed then, so forgetting :meth:`~TokenService.close` never keeps
a process alive. ``on_event`` callbacks run on the loop thread: they must
not call the facade back (that would wait for itself; it raises
``RuntimeError`` instead).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .service import TokenService as AsyncTokenService

if TYPE_CHECKING:
    from typing import Self

    from .clock import Clock
    from .events import Event
    from .settings import Settings

__all__ = ["TokenService"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
#: How long closing waits for the store to close its connections.
_CLOSE_TIMEOUT = 10.0
#: Every facade not yet closed, closed at interpreter exit.
_OPEN: weakref.WeakSet[TokenService] = weakref.WeakSet()


def _sync(
    method: Callable[Concatenate[AsyncTokenService, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[TokenService, _P], _R]:
    """The async service's ``method``, run on the facade's loop."""

    def call(self: TokenService, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self.run(method(self.service, *args, **kwargs))

    call.__name__ = call.__qualname__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class TokenService:
    """The :class:`jwtwarden.TokenService` API, synchronous and thread-safe.

    Build it with :meth:`open` (or :meth:`from_settings`, the same), or from
    a coroutine function that makes a started async service; use it as a
    context manager or call :meth:`close` (idempotent). Every method takes
    the async method's arguments and raises its errors; a call after
    :meth:`close` raises ``RuntimeError``. ``timeout`` bounds each call
    (``None``: the store's own timeouts only).
    """

    def __init__(
        self,
        make: Callable[[], Awaitable[AsyncTokenService]],
        *,
        timeout: float | None = None,
    ) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jwtwarden-sync", daemon=True
        )
        self._thread.start()
        try:
            #: The async service, owned by the facade's loop: use it only
            #: through :meth:`run`.
            self.service: AsyncTokenService = self._submit(make()).result()
        except BaseException:
            self._stop()
            raise
        _OPEN.add(self)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        on_event: Callable[[Event], None] | None = None,
        timeout: float | None = None,
    ) -> Self:
        """A started service on the store and keys ``settings`` name (as
        :meth:`jwtwarden.TokenService.open`)."""

        async def make() -> AsyncTokenService:
            return await AsyncTokenService.open(settings, clock=clock, on_event=on_event)

        return cls(make, timeout=timeout)

    from_settings = open

    def run(self, awaitable: Awaitable[_R]) -> _R:
        """Run ``awaitable`` on the facade's loop and return its result:
        for anything of the async service this class does not wrap."""
        if self._closed:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise RuntimeError("This jwtwarden.sync.TokenService is closed.")
        if threading.current_thread() is self._thread:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise RuntimeError("A jwtwarden.sync call from its own loop would wait for itself.")
        future = self._submit(awaitable)
        try:
            return future.result(self._timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        """Close the store's connections and stop the loop thread; a second
        call does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _OPEN.discard(self)
        try:
            self._submit(self.service.close()).result(_CLOSE_TIMEOUT)
        finally:
            self._stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, awaitable: Awaitable[_R]) -> Future[_R]:
        async def wrapper() -> _R:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop)

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CLOSE_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    # The async service's API, method by method.
    login = _sync(AsyncTokenService.login)
    start_session = _sync(AsyncTokenService.start_session)
    refresh = _sync(AsyncTokenService.refresh)
    logout = _sync(AsyncTokenService.logout)
    logout_all = _sync(AsyncTokenService.logout_all)
    revoke_token = _sync(AsyncTokenService.revoke_token)
    revoke_user = _sync(AsyncTokenService.revoke_user)
    revoke_session = _sync(AsyncTokenService.revoke_session)
    revoke_access_token = _sync(AsyncTokenService.revoke_access_token)
    revoke_refresh_token = _sync(AsyncTokenService.revoke_refresh_token)
    verify = _sync(AsyncTokenService.verify)
    decode = _sync(AsyncTokenService.decode)
    introspect = _sync(AsyncTokenService.introspect)
    create_user = _sync(AsyncTokenService.create_user)
    find_user = _sync(AsyncTokenService.find_user)
    get_user = _sync(AsyncTokenService.get_user)
    list_users = _sync(AsyncTokenService.list_users)
    get_session = _sync(AsyncTokenService.get_session)
    list_sessions = _sync(AsyncTokenService.list_sessions)
    set_roles = _sync(AsyncTokenService.set_roles)
    ban = _sync(AsyncTokenService.ban)
    unban = _sync(AsyncTokenService.unban)
    change_password = _sync(AsyncTokenService.change_password)
    set_password = _sync(AsyncTokenService.set_password)
    create_client = _sync(AsyncTokenService.create_client)
    authenticate_client = _sync(AsyncTokenService.authenticate_client)
    authenticate_assertion = _sync(AsyncTokenService.authenticate_assertion)
    exchange_assertion = _sync(AsyncTokenService.exchange_assertion)
    check_dpop_proof = _sync(AsyncTokenService.check_dpop_proof)
    rotate_keys = _sync(AsyncTokenService.rotate_keys)
    revocation_snapshot = _sync(AsyncTokenService.revocation_snapshot)
    purge = _sync(AsyncTokenService.purge)
    start = _sync(AsyncTokenService.start)

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Deliver every event to ``listener`` too (called on the loop thread)."""
        self.service.subscribe(listener)

    def jwks(self) -> dict[str, Any]:
        """The public keys that may verify a live token (RFC 7517 JWK Set)."""
        return self.service.jwks()

    def dpop_nonce(self) -> str:
        """The DPoP nonce the server hands out now (the ``DPoP-Nonce`` header)."""
        return self.service.dpop_nonce()


@atexit.register
def _close_all() -> None:
    for service in list(_OPEN):
        # Exiting: a store that cannot close cleanly has nobody left to tell.
        with contextlib.suppress(Exception):
            service.close()
