"""The client half of docs/feed-protocol.md: the Python RevocationFeed and
the Node package's RevocationFeed follow one scripted feed server, whose
stream uses what the document allows a server to send (CRLF and CR line
ends, comments, ``retry:``, events split across writes, unknown event types,
heartbeats without ``id:``, a dropped connection), and both must end with
the same view and resume with the right ``Last-Event-ID``."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jwtwarden.verifier.feed import RevocationFeed

ROOT = Path(__file__).resolve().parents[2]
FOLLOW = ROOT / "clients" / "node" / "test" / "support" / "follow.mjs"
CLIENT_ID, SECRET = "rs_conformance", "s3cret-_value"
NOW = time.time()
#: Far enough ahead that nothing is forgotten before the test runs: NOW is
#: taken when the module is collected, and a full suite runs longer than
#: five minutes before it reaches this file (every entry had expired, once).
LATER = NOW + 86_400

SNAPSHOT = {
    "position": "10",
    "denied": {"j0": LATER},
    "sessions": {"s0": LATER},
    "users": {
        "u1": {
            "revocation": {"cutoff_at": NOW - 60, "keep_sid": "kept", "banned_until": None},
            "forget_at": LATER,
        }
    },
    "store_cutoff": None,
    "a_future_member": [1, 2, 3],
}
SID_EVENT = {
    "position": "11",
    "kind": "sid",
    "key": "s1",
    "forget_at": LATER,
    "user": None,
    "cutoff_at": None,
}
JTI_EVENT = {
    "position": "12",
    "kind": "jti",
    "key": "j1",
    "forget_at": LATER,
    "user": None,
    "cutoff_at": None,
}
BAN_EVENT = {
    "position": "13",
    "kind": "user",
    "key": "u2",
    "forget_at": LATER,
    "user": {"cutoff_at": NOW - 30, "keep_sid": None, "banned_until": LATER},
    "cutoff_at": None,
}

#: Tokens and the cause each must end with (the rule of §6).
FACTS = [
    {"sub": "u9", "sid": "s9", "jti": "j0", "authTime": NOW - 100, "cause": "denied"},
    {"sub": "u9", "sid": "s0", "jti": "x0", "authTime": NOW - 100, "cause": "session"},
    {"sub": "u1", "sid": "s8", "jti": "x1", "authTime": NOW - 100, "cause": "cutoff"},
    {"sub": "u1", "sid": "kept", "jti": "x2", "authTime": NOW - 100, "cause": None},
    {"sub": "u1", "sid": "s7", "jti": "x3", "authTime": NOW - 10, "cause": None},
    {"sub": "u9", "sid": "s1", "jti": "x4", "authTime": NOW - 100, "cause": "session"},
    {"sub": "u9", "sid": "s6", "jti": "j1", "authTime": NOW - 100, "cause": "denied"},
    {"sub": "u2", "sid": "s5", "jti": "x5", "authTime": NOW - 100, "cause": "banned"},
]


def message(kind: str, data: object, event_id: str | None, end: str = "\n") -> bytes:
    lines = [f"event: {kind}"] + ([f"id: {event_id}"] if event_id is not None else [])
    lines.append(f"data: {json.dumps(data)}")
    return (end.join(lines) + end + end).encode()


class ScriptedFeed(BaseHTTPRequestHandler):
    """Connection 1: a snapshot and one event, then the connection drops.
    Later connections: what came after the client's Last-Event-ID."""

    server: Any

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        if self.headers.get("authorization") != f"Basic {expected}":
            self.send_response(401)
            self.send_header("www-authenticate", 'Basic realm="jwtwarden"')
            self.end_headers()
            return
        after = self.headers.get("last-event-id")
        self.server.resumed_from.append(after)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-store")
        self.end_headers()
        out = self.wfile
        if after is None:
            out.write(b"\xef\xbb\xbfretry: 100\r\n: a comment, ignored\r\n\r\n")
            snapshot = message("snapshot", SNAPSHOT, "10", end="\r\n")
            for i in range(0, len(snapshot), 7):  # split mid-line, mid-CRLF
                out.write(snapshot[i : i + 7])
                out.flush()
            out.write(message("heartbeat", {"position": "10", "fresh": True}, None))
            out.write(message("a-future-event", {"whatever": 1}, None))
            out.write(message("revocation", SID_EVENT, "11"))
            out.write(message("heartbeat", {"position": "11", "fresh": True}, None))
            out.flush()
            return  # the connection drops here
        if after == "11":
            out.write(message("revocation", JTI_EVENT, "12", end="\r"))
            out.write(message("revocation", BAN_EVENT, "13"))
        else:  # an unexpected position: start over, as a real server would
            out.write(message("snapshot", SNAPSHOT, "10"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not self.server.done.is_set():
            out.write(message("heartbeat", {"position": "13", "fresh": True}, None))
            out.write(b": keep-alive\n\n")
            out.flush()
            self.server.done.wait(0.3)


@pytest.fixture
def feed_url() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedFeed)
    server.daemon_threads = True
    server.resumed_from = []  # type: ignore[attr-defined]
    server.done = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/revocations", server
    finally:
        server.done.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def test_the_python_feed_client_follows_the_protocol(
    feed_url: tuple[str, ThreadingHTTPServer],
) -> None:
    url, server = feed_url
    feed = RevocationFeed(url, client_id=CLIENT_ID, client_secret=SECRET, reconnect_delay=0.1)
    feed.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _python_causes(feed) != _expected():
            time.sleep(0.01)  # waiting on another thread
        assert _python_causes(feed) == _expected()
        assert feed.position == "13"
        assert server.resumed_from[:2] == [None, "11"]  # type: ignore[attr-defined]
        assert feed.staleness() < 5
    finally:
        feed.stop()


@pytest.mark.store  # never skipped in CI (tests/conftest.py)
def test_the_node_feed_client_follows_the_protocol(
    feed_url: tuple[str, ThreadingHTTPServer],
) -> None:
    node = shutil.which("node")
    if node is None or not (FOLLOW.parents[2] / "dist" / "index.js").exists():
        pytest.skip("needs node and a built clients/node (npm ci there)")
    url, server = feed_url
    result = subprocess.run(
        [node, str(FOLLOW), url, CLIENT_ID, SECRET, json.dumps(FACTS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["causes"] == _expected()
    assert out["position"] == "13"
    assert out["snapshots"] == 1, "resumed from Last-Event-ID, no second snapshot"
    assert out["fresh"] is True
    assert server.resumed_from[:2] == [None, "11"]  # type: ignore[attr-defined]


def _expected() -> list[str | None]:
    return [f["cause"] for f in FACTS]


def _python_causes(feed: RevocationFeed) -> list[str | None]:
    now = time.time()
    causes = [
        feed.view.cause(sub=f["sub"], sid=f["sid"], jti=f["jti"], auth_time=f["authTime"], now=now)
        for f in FACTS
    ]
    return [None if c is None else c.value for c in causes]
