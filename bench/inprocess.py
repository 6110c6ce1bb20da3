"""The jwtwarden app driven directly, in process: worker CPU per request of
``GET /me`` (access log on and off) and of the refresh grant on a store,
with no HTTP server, no wrk and no socket between client and app, so the
figure moves far less on a busy machine than a pinned wrk run does.

Each request is a raw ASGI call; ``--concurrency`` of them run at once (as
wrk's connections would), and CPU time is the process's (all threads: the
log writer and the revocation follower included) over the requests made.
``--profile`` prints where that time goes (cProfile, the top functions by
own time and by cumulative time).

Run: ``python bench/inprocess.py [me|me-nolog|sqlite|redis|postgres|memory]
[--requests N] [--rounds N] [--profile]``. The Redis keys live under a
prefix of their own and the PostgreSQL tables in a schema of their own,
both removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import resource
import secrets
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jwtwarden import Settings, TokenService
from jwtwarden.server import create_app
from jwtwarden.server.access_log import configure_logging, flush_logs

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
PASSWORD = "correct horse battery"
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}


@contextlib.contextmanager
def store_url(kind: str, work: Path) -> Iterator[str]:
    if kind in ("me", "me-nolog", "sqlite"):
        yield f"sqlite:///{work}/inprocess.db"
    elif kind == "memory":
        yield "memory://"
    elif kind == "postgres":
        import psycopg

        schema = f"jwt_inproc_{secrets.token_hex(4)}"
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
        finally:
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    elif kind == "redis":
        import redis

        prefix = f"inproc{secrets.token_hex(4)}"
        try:
            yield f"{REDIS}?prefix={prefix}"
        finally:
            client = redis.Redis.from_url(REDIS)
            for key in client.scan_iter(f"{prefix}:*", count=1000):
                client.delete(key)
            client.close()
    else:
        raise ValueError(kind)


async def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, bytes]:
    """One raw ASGI request; its status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


FORM = [(b"content-type", b"application/x-www-form-urlencoded")]


async def login(app: Any) -> dict[str, Any]:
    import json

    body = f"grant_type=password&username=bench&password={quote(PASSWORD)}".encode()
    status, out = await call(app, "POST", "/token", FORM, body)
    assert status == 200, out
    return dict(json.loads(out))


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """The app's lifespan, as a server would run it."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    done: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan"}, queue.get, done.put))
    await queue.put({"type": "lifespan.startup"})
    message = await done.get()
    assert message["type"] == "lifespan.startup.complete", message
    try:
        yield
    finally:
        await queue.put({"type": "lifespan.shutdown"})
        await done.get()
        await task


async def workers(n: int, concurrency: int, one: Any) -> None:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(
    kind: str, args: argparse.Namespace, work: Path
) -> tuple[list[float], list[float]]:
    with store_url(kind, work) as url:
        settings = Settings(
            store=url,
            issuer="http://127.0.0.1:8000",
            key_file=str(work / f"{kind}.keys"),
            access_log=kind != "me-nolog",
            **CHEAP_ARGON2,  # type: ignore[arg-type]
        )
        service = TokenService.from_settings(settings)
        app = create_app(service, settings, manage_service=True)
        async with running(app):
            with contextlib.suppress(Exception):
                await service.create_user("bench", PASSWORD, roles=["user"])
            costs: list[float] = []
            shares: list[float] = []
            profiler = cProfile.Profile() if args.profile else None
            for _ in range(args.rounds):
                if kind in ("me", "me-nolog"):
                    token = (await login(app))["access_token"]
                    headers = [(b"authorization", f"Bearer {token}".encode())]

                    async def one(i: int, headers: list[tuple[bytes, bytes]] = headers) -> None:
                        status, out = await call(app, "GET", "/me", headers, b"")
                        assert status == 200, out

                else:
                    refresh = [(await login(app))["refresh_token"] for _ in range(args.requests)]

                    async def one(i: int, refresh: list[str] = refresh) -> None:
                        body = f"grant_type=refresh_token&refresh_token={refresh[i]}".encode()
                        status, out = await call(app, "POST", "/token", FORM, body)
                        assert status == 200, out

                cpu = resource.getrusage(resource.RUSAGE_SELF)
                if profiler:
                    profiler.enable()
                await workers(args.requests, args.concurrency, one)
                if profiler:
                    profiler.disable()
                spent = resource.getrusage(resource.RUSAGE_SELF)
                user, system = spent.ru_utime - cpu.ru_utime, spent.ru_stime - cpu.ru_stime
                costs.append((user + system) / args.requests * 1e6)
                shares.append(system / (user + system))
            if profiler:
                stats = pstats.Stats(profiler, stream=sys.stdout)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(45)
    return costs, shares


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", default=["me", "me-nolog", "sqlite"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    configure_logging(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            costs, shares = await measure(kind, args, Path(tmp))
            print(
                f"{kind:10} median {statistics.median(costs):7.1f} µs CPU/request, "
                f"{statistics.median(shares):4.0%} of it system time "
                f"(rounds: {', '.join(f'{c:.1f}' for c in costs)})",
                flush=True,
            )
    flush_logs()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
