"""RevocationFeed: follow a jwtwarden server's ``/revocations`` stream into a
RevocationView, on a background thread.

The stream (Server-Sent Events) starts with a snapshot of every revocation
that can still matter, then sends each new one as it happens, plus a
heartbeat every couple of seconds. The feed reconnects by itself with
``Last-Event-ID``, so revocations made while it was disconnected arrive when
it is back (or in a fresh snapshot if it was away too long). ``staleness``
is the time since the server last confirmed it was current; the verifier
rejects or allows tokens past its bound, as configured.

Only httpx is needed (the ``[verifier]`` extra); no store, no driver.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from ..clock import Clock, SystemClock
from ..core.view import RevocationEvent, RevocationSnapshot, RevocationView

if TYPE_CHECKING:
    import httpx

__all__ = ["RevocationFeed"]

logger = logging.getLogger("jwtwarden.verifier.feed")

#: Longest line or event accepted from the stream (a snapshot can be large).
MAX_EVENT_BYTES = 64 * 1024 * 1024


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
        http_client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.view = view if view is not None else RevocationView()
        self.clock: Clock = clock or SystemClock()
        self.reconnect_delay = reconnect_delay
        #: The last position applied; sent as ``Last-Event-ID`` on reconnect.
        self.position: str | None = None
        #: When the server last said it was current (clock time).
        self.fresh_at = float("-inf")
        #: How many times the stream has been (re)connected.
        self.connections = 0
        self._auth = (client_id, client_secret)
        self._client = http_client
        self._stop = threading.Event()
        self._current: httpx.Response | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

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

    def _run(self) -> None:
        import httpx

        client = self._client or httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
        try:
            while not self._stop.is_set():
                try:
                    self._follow(client)
                except (httpx.HTTPError, ValueError, RuntimeError) as exc:
                    if not self._stop.is_set():
                        logger.warning("revocation feed %s: %s", self.url, type(exc).__name__)
                self._stop.wait(self.reconnect_delay)
        finally:
            if self._client is None:
                client.close()

    def _follow(self, client: httpx.Client) -> None:
        headers = {"accept": "text/event-stream"}
        if self.position is not None:
            headers["last-event-id"] = self.position
        with client.stream("GET", self.url, headers=headers, auth=self._auth) as response:
            if response.status_code != 200:
                raise RuntimeError(f"status {response.status_code}")
            self._current = response
            self.connections += 1
            kind, data = "message", list[str]()
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line == "":
                    if data:
                        self._dispatch(kind, "\n".join(data))
                    kind, data = "message", []
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
                    if sum(map(len, data)) > MAX_EVENT_BYTES:
                        raise ValueError("event too large")
        self._current = None

    def _dispatch(self, kind: str, text: str) -> None:
        payload: dict[str, Any] = json.loads(text)
        if kind == "snapshot":
            snapshot = RevocationSnapshot.from_dict(payload)
            self.view.load(snapshot)  # entries only ever add: a merge is safe
            self.position = snapshot.position
            self._ready.set()
        elif kind == "revocation":
            event = RevocationEvent.from_dict(payload)
            self.view.apply(event)
            self.position = event.position
        elif kind == "heartbeat" and payload.get("fresh"):
            self.fresh_at = self.clock.now()
