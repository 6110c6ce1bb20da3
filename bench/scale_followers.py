"""Feed fan-out: one ``jwtwarden serve`` process holding FOLLOWERS concurrent
``/revocations`` SSE followers on loopback (issue 13, part 3). Run:
``python bench/scale_followers.py [FOLLOWERS] [STORE]`` (default 500 and
``redis``: the machine's Redis, a key prefix of its own; ``postgres`` works
too; about a minute).

The server is one worker pinned to core 0 and this script (every follower,
one asyncio loop) to core 1, as bench/_support.py pins wrk. Once every
follower holds its stream and has applied its snapshot, REVOCATIONS sessions
are logged out one at a time through ``POST /logout``; each time, the clock
runs from the call until every follower has received the session's
``revocation`` event. Reported: p50/p99 over every (follower, revocation)
pair and the p99 of the slowest follower per revocation; the server's RSS
with every follower connected and after; its CPU share during the
revocations. Medians over ROUNDS rounds. The machine is shared and noisy.

Writes ``bench/results/scale_followers.json`` for ``bench/capacity.py``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from _support import (
    LOAD_CORE,
    jwtwarden,
    jwtwarden_env,
    jwtwarden_server,
    login,
    pinning,
    store_url,
)
from scale_redis import machine

RESULTS = Path(__file__).resolve().parent / "results"
REVOCATIONS = 40
ROUNDS = 3
#: A revocation not seen by every follower within this is a failure.
DEADLINE = 30.0


def sid_of(access_token: str) -> str:
    """The ``sid`` claim, read without verifying: the server made the token."""
    payload = access_token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


class Follower:
    """One SSE stream; when each awaited sid's event line arrived."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.seen: dict[str, float] = {}

    async def follow(self, client: httpx.AsyncClient, url: str, auth: tuple[str, str]) -> None:
        with contextlib.suppress(httpx.ReadError):  # the server stopping at the end
            await self._read(client, url, auth)

    async def _read(self, client: httpx.AsyncClient, url: str, auth: tuple[str, str]) -> None:
        async with client.stream("GET", url + "/revocations", auth=auth) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                self.ready.set()  # the snapshot arrived
                now = time.perf_counter()
                body = json.loads(line[5:])
                for sid in _sids(body):
                    self.seen.setdefault(sid, now)


def _sids(body: dict[str, object]) -> list[str]:
    """The revoked sids an event carries (docs/feed-protocol.md §3.2-3.3)."""
    if body.get("kind") == "sid":
        return [str(body["key"])]
    sessions = body.get("sessions")
    return list(sessions) if isinstance(sessions, dict) else []


async def one_round(url: str, auth: tuple[str, str], n: int, server: object) -> dict[str, float]:
    tokens = [login(url)["access_token"] for _ in range(REVOCATIONS)]
    followers = [Follower() for _ in range(n)]
    limits = httpx.Limits(max_connections=n + 8, max_keepalive_connections=n + 8)
    timeout = httpx.Timeout(60, read=None)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        streams = [asyncio.create_task(f.follow(client, url, auth)) for f in followers]
        await asyncio.wait_for(asyncio.gather(*(f.ready.wait() for f in followers)), 120)
        rss_connected = server.rss_mib()  # type: ignore[attr-defined]
        cpu = server.cpu_seconds()  # type: ignore[attr-defined]
        started = time.perf_counter()
        pairs, slowest = [], []
        async with httpx.AsyncClient(base_url=url, timeout=30) as api:
            for token in tokens:
                sid = sid_of(token)
                start = time.perf_counter()
                r = await api.post("/logout", headers={"authorization": f"Bearer {token}"})
                r.raise_for_status()
                while not all(sid in f.seen for f in followers):
                    if time.perf_counter() - start > DEADLINE:
                        raise SystemExit(f"a revocation missed {DEADLINE} s")
                    await asyncio.sleep(0.0005)  # polling followers in this loop
                got = [f.seen[sid] - start for f in followers]
                pairs += got
                slowest.append(max(got))
        wall = time.perf_counter() - started
        spent = server.cpu_seconds() - cpu  # type: ignore[attr-defined]
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    pairs.sort()
    return {
        "p50_ms": statistics.median(pairs) * 1000,
        "p99_ms": pairs[int(len(pairs) * 0.99) - 1] * 1000,
        "slowest_follower_p50_ms": statistics.median(slowest) * 1000,
        "max_ms": pairs[-1] * 1000,
        "server_rss_mib_connected": rss_connected,
        "server_rss_mib_after": server.rss_mib(),  # type: ignore[attr-defined]
        "server_core_share": spent / wall,
        "server_cpu_us_per_delivery": spent / (len(tokens) * n) * 1e6,
        "revocations_per_s": len(tokens) / wall,
    }


async def main(n: int, kind: str) -> None:
    pin = pinning()
    if not pin.problem:
        os.sched_setaffinity(0, {LOAD_CORE})  # the followers: this process
    with tempfile.TemporaryDirectory() as tmp, store_url(kind, Path(tmp)) as url:
        work = Path(tmp)
        env = {**jwtwarden_env(work, url, "feed"), "JWTWARDEN_ACCESS_LOG": "false"}
        creds = json.loads(jwtwarden("clients", "add", "followers", env=env, cwd=work))
        auth = (creds["client_id"], creds["client_secret"])
        with jwtwarden_server(work, env, access_log=False, pin=pin.server, name="feed") as server:
            rounds = []
            for i in range(ROUNDS):
                rounds.append(await one_round(server.url, auth, n, server))
                print(f"round {i + 1}: {json.dumps(rounds[-1])}", file=sys.stderr, flush=True)
    results = {
        "benchmark": "bench/scale_followers.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "note": f"{pin.describe()}; shared, noisy machine; medians of {ROUNDS} rounds",
        "store": kind,
        "followers": n,
        "revocations_per_round": REVOCATIONS,
        **{k: statistics.median(r[k] for r in rounds) for k in rounds[0]},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_followers.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(int(args[0]) if args else 500, args[1] if len(args) > 1 else "redis"))
