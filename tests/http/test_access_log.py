"""The access log under ``jwtwarden serve`` (the server's own writer, no
LogRecord per request) writes the same one-line, escaped text as the
``jwtwarden.access`` logger does inside another program."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from jwtwarden.server import create_app
from jwtwarden.server.access_log import configure_logging, flush_logs
from jwtwarden.settings import Settings
from tests.conftest import ServiceFactory


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(out)
    try:
        yield out
    finally:
        flush_logs()
        root.handlers[:] = saved
        root.setLevel(level)


async def test_the_servers_writer_logs_each_request_on_one_escaped_line(
    make_service: ServiceFactory, server_log: io.StringIO
) -> None:
    service = await make_service("memory", issuer="https://auth.example.test")
    app = create_app(service, Settings(store="memory://", issuer="https://auth.example.test"))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 5555))
    forged = "2026-01-01 00:00:00,000 1 WARNING jwtwarden.events: kind=reuse_detected"
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.example.test") as c:
        await c.get("/me/%0a" + forged.replace(" ", "%20"))
        await c.get("/me?access_token=secret-in-query")
        logging.getLogger("jwtwarden.server").warning("a record among the lines")
    flush_logs()
    lines = server_log.getvalue().splitlines()
    access = [line for line in lines if " INFO jwtwarden.access: " in line]
    assert len(access) == 2
    assert '192.0.2.10 "GET /me/\\n2026-01-01' in access[0] and access[0].endswith("ms")
    assert '"GET /me" 401' in access[1] and "secret-in-query" not in access[1]
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert any("WARNING jwtwarden.server: a record among the lines" in line for line in lines)


@pytest.mark.parametrize(
    ("client", "method", "path"),
    [
        ("192.0.2.10", "GET", "/me"),
        ("192.0.2.10", "GET", "/me/\n2026-01-01 00:00:00,000 1 WARNING forged"),
        ('a "client"', "G\u2028T", "/\u00e9\x1b[31m"),
        ("192.0.2.10", "GET", "/" + "a" * 5000),
    ],
    ids=["plain", "newline", "quotes-and-controls", "long"],
)
def test_the_writers_access_line_is_the_loggers_text_every_time(
    client: str, method: str, path: str
) -> None:
    from jwtwarden.server.access_log import LogWriter, access_message

    out = io.StringIO()
    writer = LogWriter(out)
    for _ in range(2):  # the second time from the memo of escaped values
        writer.access(client, method, path, 200, 1.25)
    writer.flush()
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 3
    expected = access_message(client, method, path, 200, 1.25)
    assert all(line.endswith(f" INFO jwtwarden.access: {expected}") for line in lines[:2])
    assert all(len(line) < 1300 and line.isprintable() and line.isascii() for line in lines[:2])


def test_the_writers_access_lines_stay_within_the_buffer_bound() -> None:
    from jwtwarden.server.access_log import LogWriter

    out = io.StringIO()
    writer = LogWriter(out, max_buffered=1000)
    for _ in range(10_000):
        writer.access("192.0.2.1", "GET", "/me", 200, 0.1)
    assert 900 < writer.buffered <= 1000 and writer.dropped > 9000
    writer.flush()
    assert writer.buffered == 0 and out.getvalue().endswith("the log output did not keep up\n")
