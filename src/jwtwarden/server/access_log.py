"""The server's logging: one writer thread behind one bounded buffer of
lines, and the access log (one line per request, ``jwtwarden.access``).

Under ``jwtwarden serve`` (:func:`configure_logging`) every line goes into
one :class:`LogWriter`: log records are formatted by the thread that logs
them (they are rare: logins, warnings, errors), access-log lines are
formatted straight to text with no ``LogRecord`` at all, and a background
thread writes whatever waits every :data:`FLUSH_INTERVAL` seconds in one
``write``. Measured on ``GET /me`` (bench/server.py, pinned core,
2026-12-02): the stdlib path it replaces (``Logger.info`` → ``LogRecord`` →
``QueueHandler`` → ``QueueListener`` thread → one ``write`` and ``flush``
per record) cost 26 µs of CPU per request, 29 % of the throughput; this
path costs about 2 µs.

An app made by :func:`~jwtwarden.server.create_app` inside another program
(no writer installed) logs its access lines as ordinary records on the
``jwtwarden.access`` logger, so that program's handlers see them. Both
paths write the same text: :func:`access_message`.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from ..events import log_escape, log_value

__all__ = [
    "LOG_FORMAT",
    "LogWriter",
    "OneLineFormatter",
    "access_message",
    "configure_logging",
    "flush_logs",
]

access_log = logging.getLogger("jwtwarden.access")

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

#: Seconds between two writes of the buffer: how late a line may appear.
FLUSH_INTERVAL = 0.05
#: The most text (characters; ASCII, so bytes) waiting to be written. Past
#: it new lines are dropped and counted, and the next write says how many:
#: a stalled stderr (a full pipe nobody reads) must not grow the process.
MAX_BUFFERED = 1024 * 1024
#: The longest path an access line quotes (escaped), so one line is bounded.
MAX_LOGGED_PATH = 1024


def configure_logging(stream: IO[str] | None = None) -> LogWriter:
    """INFO logs to ``stream`` (stderr) through a new :class:`LogWriter`:
    the event loop only appends each line to its buffer."""
    writer = LogWriter(stream or sys.stderr)
    handler = _WriterHandler(writer)
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    writer.start()
    _writers.append(writer)
    atexit.register(flush_logs)
    return writer


_writers: list[LogWriter] = []


def current_writer() -> LogWriter | None:
    """The writer :func:`configure_logging` installed, if the root logger
    still writes through it (nobody replaced the handlers since)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _WriterHandler) and handler.writer.running:
            return handler.writer
    return None


def flush_logs() -> None:
    """Write out every buffered line and stop the writers (at shutdown:
    uvicorn re-raises SIGTERM after a graceful stop, so atexit handlers may
    never run)."""
    while _writers:
        _writers.pop().stop()


class LogWriter:
    """A bounded buffer of finished lines and the thread that writes them.

    :meth:`write` is what the request path pays: a lock taken uncontended
    and a list append. At most :data:`MAX_BUFFERED` characters wait; lines
    past that are counted, dropped, and reported in the next write.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        max_buffered: int = MAX_BUFFERED,
        interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.stream = stream
        self.max_buffered = max_buffered
        self.interval = interval
        self.dropped = 0
        self._lines: list[str] = []
        self._size = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._second = -1
        self._stamp = ""

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def buffered(self) -> int:
        """Characters waiting to be written."""
        return self._size

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jwtwarden-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what waits and end the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()

    def write(self, line: str) -> None:
        """Queue one finished line (with its newline)."""
        with self._lock:
            if self._size + len(line) > self.max_buffered:
                self.dropped += 1
                return
            self._lines.append(line)
            self._size += len(line)

    def write_access(self, message: str) -> None:
        """Queue an access-log message under the same prefix
        :data:`LOG_FORMAT` gives records. The timestamp's seconds are
        formatted once per second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        millis = int((now - second) * 1000)
        self.write(f"{self._stamp},{millis:03d} {self._pid} INFO jwtwarden.access: {message}\n")

    def flush(self) -> None:
        with self._lock:
            lines, self._lines, self._size = self._lines, [], 0
            dropped, self.dropped = self.dropped, 0
        if dropped:
            lines.append(
                f"{time.strftime('%Y-%m-%d %H:%M:%S')} {self._pid} WARNING jwtwarden.server: "
                f"{dropped} log lines dropped: the log output did not keep up\n"
            )
        if lines:
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stderr: nothing to do
                pass

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.flush()


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


class _WriterHandler(logging.Handler):
    """Formats a record on the caller's thread and queues the line."""

    def __init__(self, writer: LogWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)


#: What JSON-string escaping leaves as it is: printable ASCII but quote and
#: backslash. Such a value is logged without calling the escaper.
_PLAIN = re.compile(r"[ !#-\[\]-~]*")


def access_message(client: str, method: str, path: str, status: int, millis: float) -> str:
    """One request as the access log tells it: client, ``"METHOD path"``
    (never the query string, which may carry a token), status, duration.
    No header or cookie. Every value quoted or escaped: the path is
    percent-decoded by the server, so ``/me/%0a...`` would otherwise write a
    second, forged line."""
    if len(path) > MAX_LOGGED_PATH:
        path = path[:MAX_LOGGED_PATH] + "..."
    if not _PLAIN.fullmatch(path):
        path = log_escape(path)
    if not _PLAIN.fullmatch(method):
        method = log_escape(method)
    return f'{log_value(client)} "{method} {path}" {status} {millis:.1f}ms'


def access_sink() -> Callable[[str], None]:
    """Where this process's access lines go: the installed writer, or else
    the ``jwtwarden.access`` logger (whose level can turn them off)."""
    writer = current_writer()
    if writer is not None:
        return writer.write_access

    def to_logger(message: str) -> None:
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("%s", message)

    return to_logger
