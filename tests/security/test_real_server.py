"""The aborts and the forged log line of issue 9 against the real
``jwtwarden serve`` (uvicorn), where the bytes on the wire are the
attacker's: a body cut short of its Content-Length, a broken chunk size, an
encoded newline in the path."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import Serve, serve  # noqa: F401 - the e2e fixture


def send_raw(url: str, data: bytes) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            sock.recv(4096)


def test_aborted_bodies_and_encoded_newlines_on_the_real_server(
    serve: Serve,  # noqa: F811
    tmp_path: Path,
) -> None:
    forged = "2026-01-01 00:00:00,000 1 WARNING jwtwarden.events: kind=reuse_detected sub=root"
    with serve() as url:
        form = b"content-type: application/x-www-form-urlencoded\r\n"
        for path in (b"/token", b"/revoke"):
            send_raw(
                url,
                b"POST "
                + path
                + b" HTTP/1.1\r\nhost: x\r\n"
                + form
                + b"content-length: 500\r\n\r\ngrant_type=pass",
            )
            send_raw(
                url,
                b"POST "
                + path
                + b" HTTP/1.1\r\nhost: x\r\n"
                + form
                + b"transfer-encoding: chunked\r\n\r\n5\r\ntoken\r\nzz\r\n",
            )
        send_raw(
            url,
            b"GET /me/%0a" + forged.replace(" ", "%20").encode() + b" HTTP/1.1\r\nhost: x\r\n\r\n",
        )
        deadline = time.monotonic() + 10
        log = next(tmp_path.glob("serve-*.log"))
        while time.monotonic() < deadline and log.read_text().count('"GET /me/') < 1:
            time.sleep(0.05)  # waiting for a real process to write its log
        metrics = httpx.get(url + "/metrics").text
    text = log.read_text()
    assert "Traceback" not in text and " ERROR " not in text, text
    assert 'status="5' not in metrics, metrics
    assert not [line for line in text.splitlines() if line.startswith("2026-01-01")], text
    assert "\\n2026-01-01" in text, text
