"""VerifierMiddleware at the ASGI level: what passes through, WebSocket
handshakes, a custom on_error, exempt prefixes, and a JWKS fetch kept off
the event loop."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from jwtwarden import Verifier
from jwtwarden.errors import JwtWardenError
from jwtwarden.verifier.asgi import CLAIMS_KEY, Receive, Scope, Send, VerifierMiddleware
from jwtwarden.verifier.credentials import ACCESS_COOKIE

from .apps import asgi_get
from .conftest import ISSUER, Minted


class Inner:
    """An ASGI app that records the scopes it saw and answers 200."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.threads: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        elif scope["type"] == "websocket":
            await send({"type": "websocket.accept"})


async def drive(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": f"{scope['type']}.connect" if scope["type"] == "websocket" else "x"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def ws_scope(headers: list[tuple[bytes, bytes]], **extra: Any) -> dict[str, Any]:
    return {"type": "websocket", "path": "/ws", "headers": headers, **extra}


async def test_lifespan_and_other_scopes_pass_through(minted: Minted) -> None:
    inner = Inner()
    app = VerifierMiddleware(inner, minted.verifier)
    await drive(app, {"type": "lifespan"})
    await drive(app, {"type": "custom.protocol"})
    assert [s["type"] for s in inner.scopes] == ["lifespan", "custom.protocol"]
    assert all(CLAIMS_KEY not in s for s in inner.scopes)


async def test_a_websocket_handshake_with_the_cookie_is_verified(minted: Minted) -> None:
    inner = Inner()
    app = VerifierMiddleware(inner, minted.verifier)
    cookie = f"{ACCESS_COOKIE}={minted.alice}".encode()
    sent = await drive(app, ws_scope([(b"cookie", cookie)]))
    assert sent == [{"type": "websocket.accept"}]
    assert inner.scopes[0][CLAIMS_KEY].roles == ("user",)


async def test_a_websocket_without_a_token_is_denied_with_401_where_supported(
    minted: Minted,
) -> None:
    inner = Inner()
    app = VerifierMiddleware(inner, minted.verifier)
    denial = await drive(app, ws_scope([], extensions={"websocket.http.response": {}}))
    assert denial[0]["type"] == "websocket.http.response.start"
    assert denial[0]["status"] == 401
    assert (
        b"www-authenticate",
        b'Bearer realm="jwtwarden", error="invalid_token", '
        b'error_description="No access token was sent."',
    ) in denial[0]["headers"]
    closed = await drive(app, ws_scope([(b"authorization", b"Bearer " + minted.forged().encode())]))
    assert closed == [{"type": "websocket.close", "code": 1008}]
    assert inner.scopes == []


async def test_on_error_decides_the_answer(minted: Minted) -> None:
    seen: list[JwtWardenError] = []

    def on_error(scope: Any, error: JwtWardenError) -> Any:
        seen.append(error)

        async def teapot(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 418, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return teapot

    app = VerifierMiddleware(Inner(), minted.verifier, on_error=on_error)
    sent = await drive(app, {"type": "http", "path": "/", "headers": []})
    assert sent[0]["status"] == 418 and seen[0].code == "invalid_token"


async def test_exempt_paths_are_exact_or_prefixes_ending_in_a_slash(minted: Minted) -> None:
    inner = Inner()
    app = VerifierMiddleware(inner, minted.verifier, exempt_paths=["/healthz", "/static/"])

    async def status(path: str) -> int:
        sent = await drive(app, {"type": "http", "path": path, "headers": []})
        return int(sent[0]["status"])

    assert [await status(p) for p in ("/healthz", "/static/a.css", "/healthz/x", "/staticx")] == [
        200,
        200,
        401,
        401,
    ]


def test_a_jwks_fetch_runs_off_the_event_loop(minted: Minted) -> None:
    fetched_on: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        fetched_on.append(threading.current_thread().name)
        return httpx.Response(200, json=minted.service.jwks())

    verifier = Verifier(
        issuer=ISSUER,
        audience=minted.service.policy.audience,
        jwks_url="https://auth.example.test/.well-known/jwks.json",
        clock=minted.clock,
        http_client=httpx.Client(transport=httpx.MockTransport(handle)),
    )
    get = asgi_get(VerifierMiddleware(Inner(), verifier))
    assert get("/", {"authorization": f"Bearer {minted.alice}"}).status == 200
    assert get("/", {"authorization": f"Bearer {minted.root}"}).status == 200
    assert len(fetched_on) == 1 and fetched_on[0] != threading.main_thread().name
