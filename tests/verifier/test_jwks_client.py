"""Keys from a JWKS URL: fetched once, refreshed when stale, refetched on an
unknown kid at most once per interval whatever the number of threads or
forged kids, and a failed or oversized fetch keeps the old keys."""

from __future__ import annotations

import base64
import json
import logging
import math
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from jwtwarden import FrozenClock, Verifier
from jwtwarden.errors import ConfigurationError, KeysUnavailableError, UnknownKeyError
from jwtwarden.verifier.jwks_client import MAX_JWKS_BYTES
from tests.conftest import ServiceFactory

from .conftest import ISSUER, PASSWORD, Minted, mint

JWKS_URL = "https://auth.example.test/.well-known/jwks.json"
INTERVAL = 30.0
MAX_AGE = 120.0  # shorter than the 300 s token lifetime


@dataclass
class JwksServer:
    """An ``httpx.MockTransport`` serving ``document()``, counting requests."""

    document: Callable[[], Any]
    requests: int = 0
    respond: Callable[[], httpx.Response] | None = None
    #: When set, a fetch waits for it: a fetch that is still in flight.
    gate: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(timeout=10)
        if self.respond is not None:
            return self.respond()
        return httpx.Response(200, json=self.document())

    def verifier(self, minted: Minted, **options: Any) -> Verifier:
        client = httpx.Client(transport=httpx.MockTransport(self.handle))
        return Verifier(
            issuer=ISSUER,
            audience=minted.service.policy.audience,
            jwks_url=JWKS_URL,
            view=minted.view,
            clock=minted.clock,
            jwks_refetch_interval=INTERVAL,
            jwks_max_age=MAX_AGE,
            http_client=client,
            **options,
        )


@pytest.fixture
def jwks(minted: Minted) -> JwksServer:
    return JwksServer(minted.service.jwks)


def with_kid(token: str, kid: str) -> str:
    """``token`` with another ``kid`` in its header (signature untouched)."""
    header_b64, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    header["kid"] = kid
    raw = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{raw}.{payload}.{signature}"


def forged_kids(token: str, n: int) -> Iterator[str]:
    for _ in range(n):
        yield with_kid(token, secrets.token_urlsafe(12))


def storm(verifier: Verifier, tokens: list[str], threads: int = 20) -> list[str]:
    """Verify every token from ``threads`` threads; the error class names."""

    def one(token: str) -> str:
        try:
            verifier.verify(token)
        except UnknownKeyError as error:
            return type(error).__name__
        return "ok"

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, tokens))


def test_keys_are_fetched_once_on_first_use_then_served_from_memory(
    jwks: JwksServer, minted: Minted
) -> None:
    verifier = jwks.verifier(minted, cache_size=0)
    assert jwks.requests == 0
    for _ in range(50):
        verifier.verify(minted.alice)
    assert jwks.requests == 1


def test_a_storm_of_forged_kids_from_20_threads_costs_one_fetch_per_interval(
    jwks: JwksServer, minted: Minted
) -> None:
    verifier = jwks.verifier(minted)
    verifier.verify(minted.alice)
    tokens = list(forged_kids(minted.alice, 400))
    assert set(storm(verifier, tokens)) == {"UnknownKeyError"}
    assert jwks.requests == 1  # still inside the interval of the first fetch
    minted.clock.advance(INTERVAL)
    assert set(storm(verifier, tokens)) == {"UnknownKeyError"}
    assert jwks.requests == 2
    minted.clock.advance(INTERVAL / 2)
    storm(verifier, tokens)
    assert jwks.requests == 2


def test_while_one_thread_fetches_the_others_verify_with_the_keys_held(
    jwks: JwksServer, minted: Minted
) -> None:
    verifier = jwks.verifier(minted, cache_size=0)
    verifier.verify(minted.alice)
    minted.clock.advance(INTERVAL)
    jwks.gate = threading.Event()
    fetcher = threading.Thread(target=storm, args=(verifier, [with_kid(minted.alice, "new")], 1))
    fetcher.start()
    assert jwks.entered.wait(timeout=10)
    jwks.entered.clear()
    # The fetch is in flight and blocked: nobody waits for it, nobody joins it.
    results = storm(verifier, [minted.alice] * 100 + list(forged_kids(minted.alice, 100)))
    assert results.count("ok") == 100 and results.count("UnknownKeyError") == 100
    jwks.gate.set()
    fetcher.join(timeout=10)
    assert jwks.requests == 2


async def test_a_token_from_a_rotated_key_is_accepted_after_one_refetch(
    jwks: JwksServer, minted: Minted
) -> None:
    verifier = jwks.verifier(minted)
    verifier.verify(minted.alice)
    await minted.service.rotate_keys()
    fresh = (await minted.service.login("alice", PASSWORD)).access_token
    minted.clock.advance(INTERVAL)
    assert verifier.verify(fresh).roles == ("user",)
    assert verifier.verify(minted.alice).roles == ("user",)  # the old key still verifies
    assert jwks.requests == 2


async def test_a_rotation_seen_inside_the_interval_waits_for_the_next_one(
    jwks: JwksServer, minted: Minted
) -> None:
    verifier = jwks.verifier(minted)
    verifier.verify(minted.alice)
    await minted.service.rotate_keys()
    fresh = (await minted.service.login("alice", PASSWORD)).access_token
    with pytest.raises(UnknownKeyError):
        verifier.verify(fresh)
    minted.clock.advance(INTERVAL)
    verifier.verify(fresh)
    assert jwks.requests == 2


def test_keys_older_than_max_age_are_refreshed(jwks: JwksServer, minted: Minted) -> None:
    verifier = jwks.verifier(minted, cache_size=0)
    verifier.verify(minted.alice)
    minted.clock.advance(MAX_AGE - 1)
    verifier.verify(minted.alice)
    assert jwks.requests == 1
    minted.clock.advance(1)
    verifier.verify(minted.alice)
    assert jwks.requests == 2


async def test_a_key_withdrawn_from_the_jwks_stops_verifying_even_cached_tokens(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    minted = await mint(make_service, clock)
    jwks = JwksServer(minted.service.jwks)
    verifier = jwks.verifier(minted)
    verifier.verify(minted.alice)
    jwks.document = lambda: {"keys": []}
    clock.advance(MAX_AGE)
    with pytest.raises(UnknownKeyError):
        verifier.verify(minted.root)  # a cache miss: refreshes, and finds no key
    with pytest.raises(UnknownKeyError):
        verifier.verify(minted.alice)  # cached, but its key is gone


FAILURES: list[tuple[str, Callable[[], httpx.Response]]] = [
    ("status-500", lambda: httpx.Response(500, text="down")),
    ("not-json", lambda: httpx.Response(200, text="<html>")),
    ("not-a-jwks", lambda: httpx.Response(200, json={"issuer": "x"})),
    ("oversized", lambda: httpx.Response(200, content=b" " * (MAX_JWKS_BYTES + 1))),
    (
        "oversized-undeclared",
        lambda: httpx.Response(200, content=iter([b" " * 65536] * 17)),
    ),
]


@pytest.mark.parametrize("failure", [f for _, f in FAILURES], ids=[n for n, _ in FAILURES])
def test_a_failed_fetch_keeps_the_old_keys_and_logs_a_warning(
    jwks: JwksServer,
    minted: Minted,
    failure: Callable[[], httpx.Response],
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = jwks.verifier(minted, cache_size=0)
    verifier.verify(minted.alice)
    jwks.respond = failure
    minted.clock.advance(MAX_AGE)
    with caplog.at_level(logging.WARNING, logger="jwtwarden.verifier"):
        assert verifier.verify(minted.alice).roles == ("user",)
        verifier.verify(minted.alice)
    assert jwks.requests == 2  # failures are rate-limited too
    assert "JWKS fetch from https://auth.example.test/.well-known/jwks.json failed" in caplog.text
    assert minted.alice.split(".")[2] not in caplog.text


@pytest.mark.parametrize("failure", [f for _, f in FAILURES], ids=[n for n, _ in FAILURES])
def test_without_any_keys_a_failed_fetch_refuses_tokens(
    jwks: JwksServer, minted: Minted, failure: Callable[[], httpx.Response]
) -> None:
    """Refused as unavailable (503), not as a bad token (401): the token may
    well be good, the keys to tell are what is missing."""
    jwks.respond = failure
    verifier = jwks.verifier(minted)
    with pytest.raises(KeysUnavailableError):
        verifier.verify(minted.alice)
    with pytest.raises(KeysUnavailableError):
        verifier.verify(minted.alice)
    assert jwks.requests == 1
    assert not verifier.is_fresh()


def test_an_issuer_back_after_an_outage_is_seen_within_seconds_not_an_interval(
    jwks: JwksServer, minted: Minted
) -> None:
    """A resource server started while its issuer is down retries with a
    short, doubling wait capped at 5 s, so once the issuer is back the keys
    arrive within seconds (it used to take the whole 30 s interval), while
    an outage still costs few fetches, and Retry-After says when the next
    attempt is."""
    jwks.respond = lambda: httpx.Response(503)
    verifier = jwks.verifier(minted)
    waits = []
    for _ in range(8):
        with pytest.raises(KeysUnavailableError) as refused:
            verifier.verify(minted.alice)
        waits.append(verifier.jwks.retry_after() if verifier.jwks else None)
        assert refused.value.retry_after == max(1, math.ceil(waits[-1] or 0))
        minted.clock.advance(waits[-1] or 0)
    assert waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
    assert jwks.requests == 8  # one per wait, whatever the number of requests

    jwks.respond = None  # the issuer is back
    minted.clock.advance(5.0)
    assert verifier.verify(minted.alice).roles == ("user",)
    assert jwks.requests == 9
    assert verifier.jwks is not None and verifier.jwks.retry_after() == INTERVAL


def test_needs_io_tells_when_a_verification_would_fetch(jwks: JwksServer, minted: Minted) -> None:
    verifier = jwks.verifier(minted)
    assert verifier.needs_io(minted.alice)
    verifier.verify(minted.alice)
    assert not verifier.needs_io(minted.alice)
    assert not verifier.needs_io(minted.root)  # known kid, fresh keys
    assert not verifier.needs_io(with_kid(minted.alice, "unknown"))  # inside the interval
    minted.clock.advance(INTERVAL)
    assert verifier.needs_io(with_kid(minted.alice, "unknown"))


def test_needs_io_while_the_first_fetch_is_in_flight(jwks: JwksServer, minted: Minted) -> None:
    verifier = jwks.verifier(minted)
    jwks.gate = threading.Event()
    first = threading.Thread(target=verifier.verify, args=(minted.alice,))
    first.start()
    assert jwks.entered.wait(timeout=10)
    assert verifier.needs_io(minted.root)  # verifying now would wait for that fetch
    jwks.gate.set()
    first.join(timeout=10)
    assert not verifier.needs_io(minted.root)


@pytest.mark.parametrize(
    "options",
    [{}, {"jwks_url": JWKS_URL, "keys": {"keys": []}}, {"jwks_url": "file:///etc/passwd"}],
    ids=["neither", "both", "not-http"],
)
def test_the_key_source_must_be_exactly_one_http_url_or_key_set(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Verifier(issuer=ISSUER, audience="jwtwarden", **options)


def test_keys_come_from_a_real_local_http_server(minted: Minted) -> None:
    requests: list[str] = []
    body = json.dumps(minted.service.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    verifier = Verifier(
        issuer=ISSUER,
        audience=minted.service.policy.audience,
        jwks_url=url,
        clock=minted.clock,
    )
    try:
        assert verifier.refresh_keys()
        assert verifier.verify(minted.alice).roles == ("user",)
        assert verifier.verify(minted.root).roles == ("admin",)
    finally:
        verifier.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert requests == ["/.well-known/jwks.json"]
