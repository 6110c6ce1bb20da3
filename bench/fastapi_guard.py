"""What protecting a FastAPI route costs, in process (issue 15's
"a FastAPI route with RequireToken: ≥ 0.95× the same route without it").
Run on demand: ``python bench/fastapi_guard.py`` (about a minute).

The ASGI apps are called directly (no HTTP server), with the same request
(a live Bearer token the Verifier has seen before), interleaved round by
round; each figure is the **minimum** CPU time per request over the rounds
(``time.process_time``), the estimate of a CPU-bound loop's cost that moves
least on a shared machine. Scenarios:

- ``plain``: the FastAPI route with no authentication (the baseline);
- ``require_token``: the same route with ``Security(RequireToken(verifier))``;
- ``middleware``: the FastAPI app behind ``VerifierMiddleware``, the route
  reading ``claims_of(request.scope)``;
- ``auth_only``: ``VerifierMiddleware.authenticate`` alone.

Over HTTP every request also pays the server (uvicorn with uvloop and
httptools: about 19 µs of CPU on this machine, docs/benchmarks.md), so the
ratios over HTTP are a little closer to 1 than these; the script prints
both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Security

from jwtwarden import AccessClaims, TokenService, Verifier
from jwtwarden.settings import Settings
from jwtwarden.verifier.asgi import VerifierMiddleware, claims_of
from jwtwarden.verifier.fastapi import RequireToken, install_refusal_handler

ROUNDS = 21
CALLS = 1000
#: uvicorn's own CPU per request (docs/benchmarks.md, "The floor").
SERVER_FLOOR_US = 19.0
PASSWORD = "correct horse battery"

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def token_and_verifier() -> tuple[str, Verifier]:
    settings = Settings(  # cheap argon2: benchmark only
        store="memory://", argon2_time_cost=1, argon2_memory_cost=8, argon2_parallelism=1
    )
    svc = TokenService.from_settings(settings)
    await svc.start()
    await svc.create_user("alice", PASSWORD, roles=["user"])
    token = (await svc.login("alice", PASSWORD)).access_token
    verifier = Verifier(
        issuer=svc.policy.issuer, audience=svc.policy.audience, keys=svc.keys.ring.keys
    )
    return token, verifier


def apps(verifier: Verifier) -> dict[str, Asgi]:
    plain = FastAPI()

    @plain.get("/x")
    async def bare() -> dict[str, Any]:
        return {"sub": "bench", "roles": []}

    guarded = FastAPI()
    install_refusal_handler(guarded)
    require_user = RequireToken(verifier)

    @guarded.get("/x")
    async def with_dependency(claims: AccessClaims = Security(require_user)) -> dict[str, Any]:
        return {"sub": claims.sub, "roles": list(claims.roles)}

    inner = FastAPI()

    @inner.get("/x")
    async def behind_middleware(request: Request) -> dict[str, Any]:
        claims = claims_of(request.scope)
        return {"sub": claims.sub, "roles": list(claims.roles)}

    middleware = VerifierMiddleware(inner, verifier)

    async def auth_only(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await middleware.authenticate(scope)

    return {
        "plain": plain,
        "require_token": guarded,
        "middleware": middleware,
        "auth_only": auth_only,
    }


async def main() -> None:
    token, verifier = await token_and_verifier()
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/x",
            "raw_path": b"/x",
            "query_string": b"",
            "root_path": "",
            "headers": list(headers),
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }

    scenarios = apps(verifier)
    for app in scenarios.values():
        await app(scope(), receive, send)
    if set(statuses) != {200}:
        raise SystemExit(f"a scenario did not answer 200: {statuses}")
    costs: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(ROUNDS):
        for name, app in scenarios.items():
            started = time.process_time()
            for _ in range(CALLS):
                await app(scope(), receive, send)
            costs[name].append((time.process_time() - started) / CALLS * 1e6)
    best = {name: min(values) for name, values in costs.items()}
    print("CPU per request, in process (min of rounds):")
    for name, us in best.items():
        print(f"  {name:14} {us:7.1f} µs")
    for name in ("require_token", "middleware"):
        alone = best["plain"] / best[name]
        served = (best["plain"] + SERVER_FLOOR_US) / (best[name] + SERVER_FLOOR_US)
        print(f"{name} ÷ plain: {alone:.3f} in process, {served:.3f} with the server's floor")


if __name__ == "__main__":
    asyncio.run(main())
