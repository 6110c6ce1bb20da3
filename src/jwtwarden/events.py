"""Events: what happened to whom, for a callback and a structured log line.

Every login, rotation and revocation produces an :class:`Event`. The
service hands it to the ``on_event`` callback (if any) and logs it on the
``jwtwarden.events`` logger with the fields as ``extra``. An event names the
user, session, IP and user agent, never a token, password or secret.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventSink", "log_escape", "log_value"]

logger = logging.getLogger("jwtwarden.events")

#: Kinds that mean an attack or a security decision, logged at WARNING.
_WARNINGS = frozenset(
    {"reuse_detected", "login_failed", "user_banned", "dpop_mismatch", "dpop_replayed"}
)
#: The routine, high-volume kind, logged at DEBUG (the access log already
#: has a line per request); callbacks and metrics still see every one.
_ROUTINE = frozenset({"refresh"})


@dataclass(frozen=True, slots=True)
class Event:
    #: ``login``, ``login_failed``, ``refresh``, ``reuse_detected``,
    #: ``session_revoked``, ``user_revoked``, ``user_banned``, ``user_unbanned``,
    #: ``token_revoked``, ``roles_changed``, ``password_changed``, ``user_created``,
    #: ``dpop_mismatch`` (a bound refresh token without its key's proof),
    #: ``dpop_replayed`` (a DPoP proof presented again).
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
        self._listeners: list[Callable[[Event], None]] = [] if callback is None else [callback]

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Also deliver every event to ``listener``."""
        self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        if event.kind in _WARNINGS:
            level = logging.WARNING
        else:
            level = logging.DEBUG if event.kind in _ROUTINE else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(level, "%s", _Line(event), extra={"event": _fields(event)})
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("on_event callback failed for %s", log_value(event.kind))


class _Line:
    """``key=value`` text of an event, built only if a handler formats it."""

    def __init__(self, event: Event) -> None:
        self.event = event

    def __str__(self) -> str:
        fields = _fields(self.event)
        detail = fields.pop("detail", {})
        pairs = [*fields.items(), *detail.items()]
        return " ".join(f"{k}={log_value(v)}" for k, v in pairs)


def _fields(event: Event) -> dict[str, Any]:
    names = ("kind", "at", "sub", "sid", "ip", "user_agent", "detail")
    return {n: getattr(event, n) for n in names if getattr(event, n) not in (None, {})}


#: Printable ASCII but space, quote and equals: safe to log unquoted.
_BARE = re.compile(r"[!#-<>-~]+")


def log_value(value: object) -> str:
    """``value`` as it may appear in a log line: bare if it is printable
    ASCII without space, quote or equals; otherwise JSON-quoted with every
    non-ASCII character escaped. So no value, whoever chose it (a path, a
    user agent, a username, a store's error text), can end the line (CR,
    LF, NUL, U+2028, U+0085), start a fake one, or send terminal escapes."""
    text = str(value)
    return text if _BARE.fullmatch(text) else json.dumps(text, ensure_ascii=True)


def log_escape(value: object) -> str:
    """``value`` escaped as inside a JSON string, for a field the line
    already quotes (the access log's ``"METHOD path"``): quotes, backslashes,
    controls and every non-ASCII character escaped."""
    return json.dumps(str(value), ensure_ascii=True)[1:-1]
