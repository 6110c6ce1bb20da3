"""Events: what happened to whom, for a callback and a structured log line.

Every login, rotation and revocation produces an :class:`Event`. The
service hands it to the ``on_event`` callback (if any) and logs it on the
``jwtwarden.events`` logger with the fields as ``extra``. An event names the
user, session, IP and user agent, never a token, password or secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Event", "EventSink"]

logger = logging.getLogger("jwtwarden.events")

#: Kinds that mean an attack or a security decision, logged at WARNING.
_WARNINGS = frozenset({"reuse_detected", "login_failed", "user_banned"})


@dataclass(frozen=True, slots=True)
class Event:
    #: ``login``, ``login_failed``, ``refresh``, ``reuse_detected``,
    #: ``session_revoked``, ``user_revoked``, ``user_banned``, ``user_unbanned``,
    #: ``token_revoked``, ``roles_changed``, ``password_changed``, ``user_created``.
    kind: str
    at: float
    sub: str | None = None
    sid: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    #: Non-secret detail: a reason, a generation, an instant.
    detail: dict[str, Any] = field(default_factory=dict)


class EventSink:
    """Delivers events to the log and an optional callback; a failing
    callback is logged and never breaks the operation that emitted it."""

    def __init__(self, callback: Callable[[Event], None] | None = None) -> None:
        self._callback = callback

    def emit(self, event: Event) -> None:
        fields = {k: v for k, v in asdict(event).items() if v not in (None, {})}
        level = logging.WARNING if event.kind in _WARNINGS else logging.INFO
        text = " ".join(f"{k}={_quote(v)}" for k, v in fields.items() if k != "detail")
        extras = " ".join(f"{k}={_quote(v)}" for k, v in event.detail.items())
        logger.log(level, "%s %s", text, extras, extra={"event": fields})
        if self._callback is not None:
            try:
                self._callback(event)
            except Exception:
                logger.exception("on_event callback failed for %s", event.kind)


def _quote(value: object) -> str:
    # JSON-quote anything with spaces, quotes or control characters, so a
    # hostile user agent cannot forge a log line.
    text = str(value)
    if not text or any(not c.isprintable() or c.isspace() or c in '"=' for c in text):
        return json.dumps(text)
    return text
