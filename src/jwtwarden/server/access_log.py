"""The server's logging: records written by a background thread, and the
access log (one line per request on the ``jwtwarden.access`` logger)."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..events import log_escape, log_value

__all__ = ["LOG_FORMAT", "OneLineFormatter", "configure_logging", "flush_logs", "log_requests"]

access_log = logging.getLogger("jwtwarden.access")

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """INFO logs to stderr, written by a background thread: the event loop
    only queues each record, so the access log costs a request microseconds
    instead of a formatted write and flush."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
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

#: Everything that may end or rewrite a line: C0 and C1 controls, DEL, and
#: the Unicode line and paragraph separators.
_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_UNSAFE.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


class OneLineFormatter(logging.Formatter):
    """A formatter whose message part is always one line, whatever a
    library (or a careless call) put in it: the second line of defence
    behind :func:`~jwtwarden.events.log_value` at each call site. A
    traceback, appended after the message, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return super().formatMessage(record).translate(_UNSAFE)


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


def log_requests(app: ASGIApp) -> ASGIApp:
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
            # Every value quoted: the path is percent-decoded by the server,
            # so "/me/%0a..." would otherwise write a second, forged line.
            access_log.info(
                '%s "%s %s" %d %.1fms',
                log_value(client[0]),
                log_escape(scope["method"]),
                log_escape(scope["path"]),
                status[0],
                (time.perf_counter() - start) * 1000,
            )

    return logged
