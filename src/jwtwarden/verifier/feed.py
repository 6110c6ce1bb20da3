"""RevocationFeed: follow a jwtwarden server's ``/revocations`` stream into a
RevocationView, on a background thread.

The stream (Server-Sent Events) starts with a snapshot of every revocation
that can still matter, then sends each new one as it happens, plus a
heartbeat every couple of seconds. The feed reconnects by itself with
``Last-Event-ID`` (the last ``id:`` received), so revocations made while it
was disconnected arrive when it is back (or in a fresh snapshot if it was
away too long). ``staleness`` is the time since the server last confirmed
it was current; the verifier rejects or allows tokens past its bound, as
configured.

The events are parsed by ``httpx-sse`` (``id:``, ``retry:``, comments and
multi-line data as the SSE specification says), not by hand. Reconnects
wait a capped exponential backoff with full jitter, starting from the
server's ``retry:`` (else ``reconnect_delay``), reset once a connection
delivered events: a stream the server ends on schedule is resumed at once,
an auth server that is down is not hammered by every resource server in
step.

A refusal (401/403: bad client credentials) is logged as an ERROR naming the
HTTP status and the server's ``error_description``, and kept in
:attr:`RevocationFeed.failure` so start-up can report it; other failures are
warnings naming the reason. A failure is logged when it starts or changes,
not at every retry.

Needs httpx and httpx-sse (the ``[verifier]`` extra); no store, no driver.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import Clock, SystemClock
from ..core.view import RevocationEvent, RevocationSnapshot, RevocationView

if TYPE_CHECKING:
    import httpx

__all__ = ["FeedFailure", "RevocationFeed"]

logger = logging.getLogger("jwtwarden.verifier.feed")

#: Largest event accepted from the stream (a snapshot can be large).
MAX_EVENT_BYTES = 64 * 1024 * 1024
#: Longest wait between two reconnection attempts (as the Node client's,
#: docs/feed-protocol.md §4): a returning server is found within seconds.
MAX_RECONNECT_DELAY = 5.0
#: Longest error body read from a refused connection.
_MAX_ERROR_BYTES = 4096


@dataclass(frozen=True, slots=True)
class FeedFailure:
    """Why the last connection attempt failed."""

    #: The HTTP status, or ``None`` for a transport or protocol error.
    status: int | None
    #: Safe to log: the server's error code and description, or the reason.
    reason: str

    @property
    def is_refusal(self) -> bool:
        """The server refused the credentials: waiting will not help."""
        return self.status in (401, 403)

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.reason}" if self.status else self.reason


class _Refused(Exception):
    def __init__(self, failure: FeedFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class RevocationFeed:
    """Keep ``view`` current from ``url`` (the server's ``/revocations``),
    authenticating as a resource-server client."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        client_secret: str,
        view: RevocationView | None = None,
        clock: Clock | None = None,
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = MAX_RECONNECT_DELAY,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.view = view if view is not None else RevocationView()
        self.clock: Clock = clock or SystemClock()
        #: First reconnection delay, until the server sends ``retry:``.
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        #: The last position applied; sent as ``Last-Event-ID`` on reconnect.
        self.position: str | None = None
        #: When the server last said it was current (clock time).
        self.fresh_at = float("-inf")
        #: How many times the stream has been (re)connected.
        self.connections = 0
        #: Why the last attempt failed; ``None`` once connected.
        self.failure: FeedFailure | None = None
        #: Consecutive failed attempts (the backoff exponent).
        self.failures = 0
        self._auth = (client_id, client_secret)
        self._client = http_client
        self._stop = threading.Event()
        self._current: httpx.Response | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._settled = threading.Event()

    def start(self) -> RevocationFeed:
        """Start following on a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="jwtwarden-feed", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.disconnect()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the first snapshot is loaded."""
        return self._ready.wait(timeout)

    def wait_settled(self, timeout: float) -> FeedFailure | None:
        """Wait, at most ``timeout`` seconds, until the first snapshot is
        loaded or the server refused the credentials; the failure that stands
        (``None`` when ready)."""
        self._settled.wait(timeout)
        return None if self._ready.is_set() else self.failure

    def staleness(self, now: float | None = None) -> float:
        """Seconds since the server last confirmed the view is current."""
        return (self.clock.now() if now is None else now) - self.fresh_at

    def disconnect(self) -> None:
        """Drop the current connection (the feed reconnects and resumes)."""
        current = self._current
        if current is not None:
            # Closing a stream another thread reads from may race its end.
            with contextlib.suppress(Exception):
                current.close()

    def next_delay(self) -> float:
        """The wait before the next attempt: the base delay (the server's
        ``retry:``, else ``reconnect_delay``) doubled per failed attempt,
        capped, each wait drawn between half and all of it; the base alone
        after a connection that delivered events."""
        if self.failures == 0:
            return self.reconnect_delay
        ceiling = min(self.max_reconnect_delay, self.reconnect_delay * 2.0 ** (self.failures - 1))
        ceiling = max(ceiling, self.reconnect_delay)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret

    def _run(self) -> None:
        import httpx

        client = self._client or httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
        try:
            while not self._stop.is_set():
                delivered = False
                try:
                    delivered = self._follow(client)
                    if not self._stop.is_set() and not delivered:
                        self._failed(FeedFailure(None, "the stream ended without an event"))
                except _Refused as refused:
                    self._failed(refused.failure)
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    if not self._stop.is_set():
                        self._failed(FeedFailure(None, _reason(exc)))
                if delivered:
                    self.failures = 0
                self._stop.wait(self.next_delay())
        finally:
            if self._client is None:
                client.close()

    def _failed(self, failure: FeedFailure) -> None:
        self.failures += 1
        if failure != self.failure:
            if failure.is_refusal:
                logger.error(
                    "revocation feed %s refused the client (%s); check JWTWARDEN_CLIENT_ID "
                    "and JWTWARDEN_CLIENT_SECRET (made by `jwtwarden clients add NAME`)",
                    self.url,
                    failure,
                )
            else:
                logger.warning("revocation feed %s: %s; retrying", self.url, failure)
        self.failure = failure
        if failure.is_refusal:
            # Revocations are unknown at once (docs/feed-protocol.md §2, §7):
            # credentials withdrawn mid-flight must not leave the view trusted.
            self.fresh_at = float("-inf")
            self._settled.set()

    def _follow(self, client: httpx.Client) -> bool:
        """Follow one connection; whether it delivered any event."""
        from httpx_sse import EventSource

        headers = {"accept": "text/event-stream", "cache-control": "no-store"}
        if self.position is not None:
            headers["last-event-id"] = self.position
        delivered = False
        with client.stream("GET", self.url, headers=headers, auth=self._auth) as response:
            if response.status_code != 200:
                raise _Refused(FeedFailure(response.status_code, _error_of(response)))
            self._current = response
            self.connections += 1
            try:
                for message in EventSource(response).iter_sse():
                    if self._stop.is_set():
                        break
                    if message.retry is not None and message.retry >= 0:
                        self.reconnect_delay = min(message.retry / 1000, self.max_reconnect_delay)
                    if len(message.data) > MAX_EVENT_BYTES:
                        raise ValueError("event too large")
                    if message.data:
                        self._dispatch(message.event, message.data, message.id)
                        if not delivered:
                            delivered = True
                            if self.failure is not None:
                                logger.info("revocation feed %s connected again", self.url)
                            self.failure = None
            finally:
                self._current = None
        return delivered

    def _dispatch(self, kind: str, text: str, event_id: str) -> None:
        payload: dict[str, Any] = json.loads(text)
        if kind == "snapshot":
            snapshot = RevocationSnapshot.from_dict(payload)
            self.view.load(snapshot)  # entries only ever add: a merge is safe
            self.position = snapshot.position
            self._ready.set()
            self._settled.set()
        elif kind == "revocation":
            event = RevocationEvent.from_dict(payload)
            self.view.apply(event)
            self.position = event_id or event.position
        elif kind == "heartbeat" and payload.get("fresh"):
            self.fresh_at = self.clock.now()


def _error_of(response: httpx.Response) -> str:
    """The server's ``error: error_description`` of a refusal, bounded."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > _MAX_ERROR_BYTES:
            break
    try:
        document = json.loads(body[:_MAX_ERROR_BYTES])
        code, text = document.get("error"), document.get("error_description")
    except (ValueError, AttributeError, RecursionError):
        return response.reason_phrase or "refused"
    return ": ".join(str(part) for part in (code, text) if part) or "refused"


def _reason(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
