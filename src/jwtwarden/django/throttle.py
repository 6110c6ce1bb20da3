"""The failed-login limits of jwtwarden's own login, around Django's
``authenticate``: the same counters in the store (hashed keys, per username
and client IP and per IP, one window), so a project's password endpoint is
throttled across every process without a cache to configure."""

from __future__ import annotations

from typing import Any

from ..core.users import normalize_username
from .service import get_service

__all__ = ["Attempt", "attempt"]


class Attempt:
    """One password check, counted after the fact."""

    def __init__(self, service: Any, counters: Any) -> None:
        self._service = service
        self._counters = counters

    def failed(self) -> None:
        self._service.run(self._counters.failed())

    def succeeded(self) -> None:
        self._service.run(self._counters.succeeded())


def attempt(username: str, ip: str | None, user_agent: str | None) -> Attempt:
    """Start a password check for ``username`` from ``ip``. Raises
    :class:`~jwtwarden.errors.RateLimitedError` past the limits."""
    service = get_service()
    core = service.service
    # The service's own throttle step (login and POST /password share it).
    counters = service.run(
        core._throttle(normalize_username(username), ip, core.clock.now(), user_agent)
    )
    return Attempt(service, counters)
