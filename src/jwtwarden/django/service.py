"""The process's one token service: the sync facade
(:class:`jwtwarden.sync.TokenService`) on the store of the project's
database, built on first use, closed at interpreter exit, and rebuilt when
the ``JWTWARDEN`` or ``DATABASES`` setting changes (tests).

Django views are synchronous; the facade runs the async service on its own
event-loop thread and owns its connections, so every request thread shares
one pool.
"""

from __future__ import annotations

import atexit
import contextvars
import threading
from typing import TYPE_CHECKING, Any

from django.core.signals import request_started, setting_changed
from django.dispatch import receiver

from .conf import Options, options

if TYPE_CHECKING:
    from ..sync import TokenService

__all__ = ["close_service", "current_options", "current_session", "get_service"]

_lock = threading.Lock()
_service: TokenService | None = None
_options: Options | None = None

#: ``(sub, sid)`` of the jwtwarden session the current request came with,
#: so a password change made in it ends the user's *other* sessions.
current_session: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "jwtwarden_current_session", default=None
)


def get_service() -> TokenService:
    """The token service, started on first use (keys created then).
    Raises :class:`~jwtwarden.errors.ConfigurationError` for a bad setting."""
    global _service, _options
    with _lock:
        if _service is None:
            from ..sync import TokenService

            checked = options()
            _service = TokenService.open(checked.settings, clock=checked.clock)
            _options = checked
        return _service


def current_options() -> Options:
    """The checked ``JWTWARDEN`` setting the service was built from."""
    get_service()
    assert _options is not None
    return _options


def close_service() -> None:
    """Close the service (its connections and thread); the next use builds a
    new one. Idempotent."""
    global _service, _options
    with _lock:
        service, _service, _options = _service, None, None
    if service is not None:
        service.close()


atexit.register(close_service)


@receiver(setting_changed)
def _rebuild_on_change(setting: str, **kwargs: Any) -> None:
    if setting in ("JWTWARDEN", "DATABASES", "SECRET_KEY", "INSTALLED_APPS"):
        close_service()


@receiver(request_started)
def _forget_session(**kwargs: Any) -> None:
    # A worker thread serves many requests: no session carries over.
    current_session.set(None)
