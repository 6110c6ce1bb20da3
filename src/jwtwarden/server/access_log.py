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

__all__ = ["LOG_FORMAT", "configure_logging", "flush_logs", "log_requests"]

access_log = logging.getLogger("jwtwarden.access")

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
            access_log.info(
                '%s "%s %s" %d %.1fms',
                client[0],
                scope["method"],
                scope["path"],
                status[0],
                (time.perf_counter() - start) * 1000,
            )

    return logged
