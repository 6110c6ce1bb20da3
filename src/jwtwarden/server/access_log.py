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

The request path pays one call (:meth:`LogWriter.access`): the line is one
f-string of values already escaped (each distinct short path, method and
client is escaped once and remembered), appended to a ``deque`` with no
lock (``append`` and ``popleft`` are atomic under the GIL; the writer
drains, it never swaps). Measured with the old and the new writer in one
process, 15 interleaved rounds of 20,000 lines, this machine busy
(2026-12-02 18:20): 16.3 µs a line before, 8.4 after (minimum; medians
30.8 and 14.4).

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
from collections import deque
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

    :meth:`access` (and :meth:`write`) is what the request path pays: no
    lock, one ``deque.append``. At most :data:`MAX_BUFFERED` characters
    wait; lines past that are counted, dropped, and reported in the next
    write. The counts are kept without a lock too, so two threads logging
    at the same instant may let one line past the bound or miss one drop
    in the count: a bound of 1 MiB, give or take a line.
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
        self._lines: deque[str] = deque()
        #: Characters ever queued (by the logging threads) and ever taken
        #: (by the writer): each counter has one kind of writer.
        self._queued = 0
        self._taken = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._second = -1
        self._stamp = ""
        self._access_head = f" {self._pid} INFO jwtwarden.access: "

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def buffered(self) -> int:
        """Characters waiting to be written."""
        return self._queued - self._taken

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
        if self._queued - self._taken + len(line) > self.max_buffered:
            self.dropped += 1
            return
        self._lines.append(line)
        self._queued += len(line)

    def write_access(self, message: str) -> None:
        """Queue an access-log message (:func:`access_message`) under the
        same prefix :data:`LOG_FORMAT` gives records."""
        self.write(f"{self._prefix()} INFO jwtwarden.access: {message}\n")

    def access(self, client: str, method: str, path: str, status: int, millis: float) -> None:
        """Queue the access line of one request: the text of
        :func:`access_message` under the prefix of :meth:`write_access`,
        built in one f-string with no format spec but the duration's
        (the request path's only logging call)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S,", time.localtime(second))
            self._second = second
        # The memos' dict lookups inline, a call only for a value not seen.
        line = (
            f"{self._stamp}{_MILLIS[int((now - second) * 1000)]}{self._access_head}"
            f"{_CLIENTS.get(client) or _client_text(client)} "
            f'"{_QUOTED.get(method) or _quoted_text(method)} '
            f'{_QUOTED.get(path) or _quoted_text(path)}" {status} {_duration(millis)}\n'
        )
        if self._queued - self._taken + len(line) > self.max_buffered:
            self.dropped += 1
            return
        self._lines.append(line)
        self._queued += len(line)

    def _prefix(self) -> str:
        """``asctime`` and the pid as :data:`LOG_FORMAT` writes them; the
        seconds are formatted once per second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S,", time.localtime(second))
            self._second = second
        return f"{self._stamp}{_MILLIS[int((now - second) * 1000)]} {self._pid}"

    def flush(self) -> None:
        lines, take = [], self._lines.popleft
        try:
            while True:
                lines.append(take())
        except IndexError:  # drained; lines queued from now on wait for the next flush
            pass
        self._taken += sum(map(len, lines))
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


#: The milliseconds of a timestamp as ``%03d`` writes them: a format spec
#: costs more than the rest of the timestamp (measured 2026-12-02).
_MILLIS = [f"{i:03d}" for i in range(1000)]

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
    return (
        f'{_client_text(client)} "{_quoted_text(method)} {_quoted_text(path)}" '
        f"{status} {_duration(millis)}"
    )


def _duration(millis: float) -> str:
    """``12.3ms``: under 100 ms (nearly every request) from a table, since
    a float's format spec is a fifth of the line's cost (1 of 4 µs, this
    machine, 2026-12-02). Halves round up; a format spec, which rounds the
    binary value, may differ by 0.1 ms on an exact half."""
    tenths = int(millis * 10 + 0.5)
    if 0 <= tenths < len(_DURATIONS):
        return _DURATIONS[tenths]
    return f"{millis:.1f}ms"


_DURATIONS = [f"{t // 10}.{t % 10}ms" for t in range(1000)]


def _quoted_text(value: str) -> str:
    """A method or path as it appears inside the line's quotes: bounded,
    escaped unless it is plain already."""
    text = _QUOTED.get(value)
    if text is None:
        text = value if len(value) <= MAX_LOGGED_PATH else value[:MAX_LOGGED_PATH] + "..."
        if not _PLAIN.fullmatch(text):
            text = log_escape(text)
        _remember(_QUOTED, value, text)
    return text


def _client_text(client: str) -> str:
    text = _CLIENTS.get(client)
    if text is None:
        text = log_value(client)
        _remember(_CLIENTS, client, text)
    return text


#: The escaped text of the short values seen last (the same few paths and
#: methods, one entry per client address): a regex test and an escape per
#: value and request cost more than the rest of the line (1.6 of 5.2 µs,
#: 2026-12-02). Values longer than :data:`_MEMO_KEY` are escaped each time;
#: a memo holds at most :data:`_MEMO_SIZE` entries (emptied when full), so
#: under 1.5 MB even of escaped hostile paths, and a few entries in practice.
_QUOTED: dict[str, str] = {}
_CLIENTS: dict[str, str] = {}
_MEMO_SIZE = 1024
_MEMO_KEY = 200


def _remember(memo: dict[str, str], value: str, text: str) -> None:
    if len(value) <= _MEMO_KEY:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[value] = text


def access_sink() -> Callable[[str, str, str, int, float], None]:
    """Where this process's access lines go, as a call with the request's
    values: the installed writer's :meth:`LogWriter.access`, or else the
    ``jwtwarden.access`` logger (whose level can turn them off)."""
    writer = current_writer()
    if writer is not None:
        return writer.access

    def to_logger(client: str, method: str, path: str, status: int, millis: float) -> None:
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("%s", access_message(client, method, path, status, millis))

    return to_logger
