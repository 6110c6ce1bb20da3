"""``GET /revocations``: the revocation feed for remote verifiers, as
Server-Sent Events.

The server relays what its own follower already reads from the store, so
any number of verifiers costs the store nothing. A new connection gets a
``snapshot`` event (everything that can still matter, with its position),
then one ``revocation`` event per change, each with ``id:`` = its position,
and a ``heartbeat`` at least every couple of seconds. A verifier that
reconnects with ``Last-Event-ID`` resumes without a gap (or gets a fresh
snapshot if it fell too far behind). Each stream ends after
:data:`STREAM_SECONDS`; clients reconnect, which keeps shutdowns prompt,
after the ``retry:`` delay the stream opens with.
Only resource-server clients (HTTP Basic, as for introspection) may listen.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ...core.view import RevocationEvent
from .context import Context, context
from .oauth import basic_credentials

__all__ = ["revocations"]

#: How long one stream lasts before the client reconnects.
STREAM_SECONDS = 300.0
#: Longest silence between two messages.
HEARTBEAT_SECONDS = 2.0
#: The reconnection delay (ms) sent as ``retry:``; clients double it per
#: failed attempt up to their cap (docs/feed-protocol.md §4).
RECONNECT_MS = 500


async def revocations(request: Request) -> Response:
    ctx = context(request)
    await ctx.service.authenticate_client(*basic_credentials(request))
    after = request.headers.get("last-event-id") or request.query_params.get("after")
    if after is not None and len(after) > 64:
        after = None
    if ctx.follower.position is None:
        await ctx.follower.poll()
    return StreamingResponse(
        _stream(ctx, after),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _stream(ctx: Context, after: str | None) -> AsyncIterator[bytes]:
    follower = ctx.follower
    position = after
    ends = time.monotonic() + STREAM_SECONDS
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    while time.monotonic() < ends and not ctx.draining:
        events = follower.events_after(position) if position is not None else None
        # Everything since the last wake goes in one write, each event
        # encoded once per process (_event): a chunk per event and a
        # json.dumps per event per stream cost 28 µs of server CPU per
        # delivered event at 5,000 revocations/s (bench/scale_followers.py).
        chunk: list[bytes] = []
        if events is None:
            snapshot = follower.view.snapshot()
            snapshot.position = follower.position
            position = follower.position
            chunk.append(_message("snapshot", snapshot.position, snapshot.to_dict()))
        elif events:
            chunk.extend(map(_event, events))
            position = events[-1].position
        now = ctx.service.clock.now()
        fresh = follower.staleness(now) <= ctx.settings.max_staleness
        chunk.append(_message("heartbeat", None, {"position": position, "fresh": fresh}))
        yield b"".join(chunk)
        await follower.wait_for_change(HEARTBEAT_SECONDS, position)


@functools.lru_cache(maxsize=16_384)
def _event(event: RevocationEvent) -> bytes:
    """One event's message, encoded once for every stream that relays it
    (json.dumps cost 17 µs per event per stream; the cache holds more than
    the follower's relay buffer of recent events)."""
    return _message("revocation", event.position, event.to_dict())


def _message(kind: str, position: str | None, data: object) -> bytes:
    head = f"event: {kind}\n" + (f"id: {position}\n" if position is not None else "")
    return (head + f"data: {json.dumps(data, separators=(',', ':'))}\n\n").encode()
