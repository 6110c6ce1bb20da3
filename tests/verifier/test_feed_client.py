"""RevocationFeed against a scripted stream: SSE ``id:``, ``retry:`` and
comments as the specification says, and capped, jittered backoff."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from jwtwarden.core.view import RevocationSnapshot
from jwtwarden.verifier.feed import RevocationFeed


def sse(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


SNAPSHOT = RevocationSnapshot(position="p1").to_dict()
REVOCATION = {
    "position": "p2",
    "kind": "sid",
    "key": "s-1",
    "forget_at": 4e9,
    "user": None,
    "cutoff_at": None,
}


def test_id_retry_and_comments_are_honoured() -> None:
    seen: list[str | None] = []
    done = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("last-event-id"))
        if len(seen) == 1:
            body = sse(
                ": a comment, ignored",
                "retry: 20",
                "event: snapshot",
                "id: p1",
                f"data: {json.dumps(SNAPSHOT)}",
                "",
                ":keep-alive",
                "event: revocation",
                "id: p2",
                # One JSON document over two data lines (joined with "\n").
                f"data: {json.dumps(REVOCATION)[:19]}",
                f"data: {json.dumps(REVOCATION)[19:]}",
                "",
                "event: heartbeat",
                'data: {"position": "p2", "fresh": true}',
                "",
            )
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
        done.set()
        return httpx.Response(503, json={"error": "temporarily_unavailable"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    feed = RevocationFeed("http://rs.test/revocations", client_id="a", client_secret="b")
    feed._client = client
    feed.start()
    try:
        assert feed.wait_ready(5)
        assert done.wait(5)
        assert seen[:2] == [None, "p2"]  # resumed after the last id received
        assert feed.reconnect_delay == pytest.approx(0.02)  # retry: 20 (ms)
        assert "s-1" in feed.view.snapshot().sessions
        assert feed.fresh_at > float("-inf")
    finally:
        feed.stop()
        client.close()


def test_backoff_doubles_to_a_cap_with_jitter_and_resets_after_events() -> None:
    feed = RevocationFeed(
        "http://rs.test/revocations",
        client_id="a",
        client_secret="b",
        reconnect_delay=0.5,
        max_reconnect_delay=8,
    )
    assert feed.next_delay() == 0.5  # after a stream that delivered events
    for failures, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (30, 8.0)):
        feed.failures = failures
        delays = {feed.next_delay() for _ in range(200)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (failures, max(delays))
        assert len(delays) > 100  # jittered, so resource servers do not retry in step


def test_a_refusal_is_logged_once_as_an_error_with_status_and_description(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            401, json={"error": "invalid_client", "error_description": "Unknown client."}
        )

    client = httpx.Client(transport=httpx.MockTransport(handler))
    feed = RevocationFeed(
        "http://rs.test/revocations", client_id="a", client_secret="b", reconnect_delay=0.01
    )
    feed._client = client
    with caplog.at_level("ERROR", "jwtwarden.verifier.feed"):
        feed.start()
        failure = feed.wait_settled(5)
        deadline = time.monotonic() + 5
        while calls < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for the feed thread's retries
        feed.stop()
    client.close()
    assert failure is not None and failure.is_refusal and failure.status == 401
    assert feed.staleness() == float("inf")  # revocations unknown at once
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "HTTP 401: invalid_client: Unknown client." in errors[0]
