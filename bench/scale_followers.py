"""Feed fan-out at a revocation rate: one ``jwtwarden serve`` process holding
FOLLOWERS concurrent ``/revocations`` SSE followers on loopback while
revocations arrive at a fixed rate R (issue 13, part 3). Run:
``python bench/scale_followers.py [FOLLOWERS] [RATES] [COUNTS]`` (default
500 followers at ``10,100,500,1000,2000,5000`` revocations/s, then
``1,2,5,10,20,50`` followers at TARGET_RATE = 5,000/s; each sweep stops at
the first step that falls behind; ROUNDS rounds, medians; about fifteen
minutes on the shared VM).

- The store is a throwaway ``redis-server`` (tests/stores/throwaway.py),
  never the shared 6379: the run writes tens of thousands of feed entries.
- The server is one worker pinned to core 0. The followers are spread over
  CLIENTS processes, and the revoker is one more process, all pinned to
  core 1 (taskset affinity; the run says so when it cannot pin).
- The revoker runs the Redis store's own deny script (what
  ``Store.deny_jti`` runs: a denylist entry and one ``XADD``, a real feed
  event), pipelined, at R per second for SECONDS, paced against the clock
  (see :func:`deny_script` for why not through ``Store.deny_jti``). Each jti
  carries its phase, its number and ``time.monotonic_ns()`` taken as the
  pipeline is built; CLOCK_MONOTONIC is one clock for every process on the
  machine, so a follower's arrival time minus that is the propagation time
  (store, the server's own follower, its stream, loopback).
- Every round starts a fresh redis-server and server: the view a round
  leaves would go into every later follower's snapshot.
- Before the followers connect, PREFILL revocations fill the server's
  buffer of recent events (``RECENT_EVENTS`` in server/follower.py): at any
  sustained rate it is full, and each stream searches it on every wake.
- Every follower counts its ``revocation`` events (a byte count, no
  parsing) and any ``snapshot`` after its first (a follower that fell behind
  the buffer); every SAMPLE_EVERY-th follower also parses each jti: which
  numbers arrived (none missing, none twice) and when.
- An idle phase (R = 0: heartbeats only) is the baseline of the same run.

Reported per rate: the server's core share from ``/proc/PID/stat``, events
delivered per second (summed over followers), server CPU per delivered
event, propagation p50/p99 over (sampled follower, revocation) pairs and to
every sampled follower, lost, duplicated and re-snapshotted followers, and
the followers' own core share (when it nears 1, core 1 bounds the figures).
The sweep stops after the first rate at which the server falls behind (a
follower short of events DRAIN seconds after the revoker stopped, or sent a
fresh snapshot) or takes SATURATED of its core. On a shared machine the
server's core share can stay well below 1 while it falls behind: other
processes take core 0 too, so read the two together.

Writes ``bench/results/scale_followers.json`` for ``bench/capacity.py``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from array import array
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _support import LOAD_CORE, jwtwarden, jwtwarden_env, jwtwarden_server, pinning
from scale_redis import machine
from tests.stores.throwaway import ThrowawayRedis  # noqa: E402  (ROOT on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
#: The throwaway redis-server's pid, once started.
REDIS_PID: list[int] = [0]
CLIENTS = 4
SAMPLE_EVERY = 10
SECONDS = 6.0
ROUNDS = 3
PREFILL = 10_500
#: A follower not caught up this long after the revoker stopped has lagged.
DRAIN = 15.0
#: The server's core share at which the sweep stops going higher.
SATURATED = 0.85
#: The model's revocation rate (bench/capacity.py), and the follower counts
#: tried at it.
TARGET_RATE = 5_000.0
#: How long a denied test jti stays in the view (short: the view stays small).
FORGET_AFTER = 20.0

REVOCATION = b"event: revocation\n"
SNAPSHOT = b"event: snapshot\n"
KEY = b'"kind":"jti","key":"'


# The followers


class Follower:
    """One ``/revocations`` stream over a raw asyncio connection.

    Hand-rolled rather than httpx-sse: a process holds over a hundred of
    these on a core it shares, and the figure wanted is the server's cost,
    so the client must cost next to nothing. Reading whole socket buffers and
    counting event lines with ``bytes.count`` (C) does that; the chunked
    framing is never undone, because every SSE message is one chunk and the
    patterns sought never span one."""

    def __init__(self, sampled: bool) -> None:
        self.sampled = sampled
        self.events = 0
        self.snapshots = 0
        self.ended = False
        self.ready = asyncio.Event()
        #: Sampled only: (phase, number) -> arrival, monotonic ns.
        self.arrivals: dict[tuple[int, int], int] = {}
        self.duplicates = 0

    async def follow(self, port: int, auth: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = (
            f"GET /revocations HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"authorization: Basic {auth}\r\naccept: text/event-stream\r\n\r\n"
        )
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"/revocations answered {head[:40]!r}")
        tail = b""
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                now = time.monotonic_ns()
                seen = tail + data
                self.events += seen.count(REVOCATION) - tail.count(REVOCATION)
                self.snapshots += seen.count(SNAPSHOT) - tail.count(SNAPSHOT)
                if self.snapshots:
                    self.ready.set()
                tail = self._parse(seen, now) if self.sampled else seen[-len(REVOCATION) :]
        self.ended = True
        writer.close()

    def _parse(self, seen: bytes, now: int) -> bytes:
        """Record each complete jti in ``seen``; return the unparsed tail."""
        start = 0
        while (at := seen.find(KEY, start)) >= 0:
            end = seen.find(b'"', at + len(KEY))
            if end < 0:
                return seen[at:]
            start = end
            parts = seen[at + len(KEY) : end].split(b".")
            if len(parts) != 3 or parts[0] == b"p":
                continue
            key = (int(parts[0]), int(parts[1]))
            if key in self.arrivals:
                self.duplicates += 1
            else:
                self.arrivals[key] = now - int(parts[2])
        return seen[max(start, len(seen) - len(KEY)) :]


def cpu_seconds(pid: int | str = "self") -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def serve_followers(
    pipe: Connection, port: int, auth: str, n: int, first: int, every: int
) -> None:
    """One client process: n followers; answers the parent's requests. Each
    request is (phase, revocations made, phase size): wait until every
    follower has that many more events (or DRAIN), then report."""
    followers = [Follower((first + i) % every == 0) for i in range(n)]
    tasks = []
    for f in followers:  # a few at a time: the server answers each with a snapshot
        tasks.append(asyncio.create_task(f.follow(port, auth)))
        await asyncio.sleep(0.002)
    await asyncio.wait_for(asyncio.gather(*(f.ready.wait() for f in followers)), 180)
    loop = asyncio.get_running_loop()
    base = [f.events for f in followers]
    pipe.send({"cpu_s": cpu_seconds(), "events": base})
    while (ask := await loop.run_in_executor(None, pipe.recv)) is not None:
        phase, made, size = ask
        started = time.monotonic()
        while time.monotonic() < started + DRAIN and short_of(followers, base, made):
            await asyncio.sleep(0.02)
        report = phase_report(followers, phase, size)
        report.update(
            delivered=sum(f.events for f in followers) - sum(base),
            short=short_of(followers, base, made),
            over=sum(1 for f, b in zip(followers, base, strict=True) if f.events - b > made),
            drain_s=time.monotonic() - started,
            cpu_s=cpu_seconds(),
        )
        base = [f.events for f in followers]
        pipe.send(report)
    for task in tasks:
        task.cancel()


def short_of(followers: list[Follower], base: list[int], made: int) -> int:
    """How many followers have fewer than ``made`` events since ``base``."""
    return sum(1 for f, b in zip(followers, base, strict=True) if f.events - b < made)


def phase_report(followers: list[Follower], phase: int, size: int) -> dict[str, Any]:
    """What the sampled followers saw of ``phase``: every (follower,
    revocation) time, the slowest follower's time per revocation, and the
    numbers that never arrived."""
    pairs = array("d")
    every = array("d", [0.0] * size)
    missing = 0
    for f in (f for f in followers if f.sampled):
        got = {n: ns / 1e6 for (p, n), ns in f.arrivals.items() if p == phase}
        missing += sum(1 for n in range(size) if n not in got)
        pairs.extend(got.values())
        for n, ms in got.items():
            if n < size:
                every[n] = max(every[n], ms)
        f.arrivals = {}
    return {
        "ended": sum(1 for f in followers if f.ended),
        "resnapshots": sum(f.snapshots - 1 for f in followers),
        "duplicates": sum(f.duplicates for f in followers),
        "missing_sampled": missing,
        "sampled": sum(1 for f in followers if f.sampled),
        "pairs_ms": pairs.tobytes(),
        "every_ms": every.tobytes(),
    }


def follower_process(
    pipe: Connection, port: int, auth: str, n: int, first: int, every: int
) -> None:
    asyncio.run(serve_followers(pipe, port, auth, n, first, every))


# The revoker


def deny_script(url: str) -> tuple[Any, Any, list[str]]:
    """A Redis client, the store's own deny script (scripts/deny.lua) and its
    keys (the store's private key names: this bench reaches inside it).

    ``Store.deny_jti`` costs about 400 µs of client CPU a call on this
    machine, and concurrent calls on one store are slower still, so one
    process on the shared core cannot make thousands a second through it.
    The same script run in pipelines (one round trip per 2 ms tick) makes
    the same feed events: a denylist entry and one ``XADD``."""
    import redis

    from jwtwarden.stores import open_store

    store: Any = open_store(url)
    keys = [store._keys.denied, store._keys.feed]
    scripts = Path(sys.modules[type(store).__module__].__file__ or "").parent / "scripts"
    client = redis.Redis.from_url(url.split("?", 1)[0])
    return client, client.register_script((scripts / "deny.lua").read_text()), keys


def revoke(url: str, phase: int, rate: float, seconds: float) -> dict[str, float]:
    """``rate`` revocations a second for ``seconds``, paced by the clock:
    each tick sends, in one pipeline, the ones due by then."""
    client, deny, keys = deny_script(url)
    total = int(rate * seconds)
    made = 0
    started = time.monotonic()
    while made < total:
        due = min(total, int((time.monotonic() - started) * rate) + 1)
        pipe = client.pipeline(transaction=False)
        forget_at = repr(time.time() + FORGET_AFTER)
        ttl = str(int(FORGET_AFTER * 1000))
        for i in range(made, due):
            jti = f"{phase}.{i}.{time.monotonic_ns()}"
            deny(keys=keys, args=[jti, forget_at, ttl], client=pipe)
        pipe.execute()
        made = due
        time.sleep(0.002)
    wall = time.monotonic() - started
    client.close()
    return {"made": made, "wall_s": wall, "rate": made / wall}


def revoker_process(pipe: Connection, url: str) -> None:
    while (ask := pipe.recv()) is not None:
        cpu = cpu_seconds()
        report = revoke(url, *ask)
        pipe.send({**report, "cpu_s": cpu_seconds() - cpu})


# The run


def quantile(values: Any, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def run_phase(
    phase: int, rate: float, server: Any, revoker: Connection, clients: list[Connection]
) -> dict[str, Any]:
    size = int(rate * SECONDS)
    cpu, started = server.cpu_seconds(), time.monotonic()
    redis_cpu = cpu_seconds(REDIS_PID[0])
    if size:
        revoker.send((phase, rate, SECONDS))
        made = revoker.recv()
    else:
        time.sleep(SECONDS)
        made = {"made": 0, "rate": 0.0, "cpu_s": 0.0}
    sending = time.monotonic() - started
    spent_sending = server.cpu_seconds() - cpu
    redis_spent = cpu_seconds(REDIS_PID[0]) - redis_cpu
    for c in clients:
        c.send((phase, made["made"], size))
    reports = [c.recv() for c in clients]
    spent = server.cpu_seconds() - cpu
    delivered = sum(r["delivered"] for r in reports)
    pairs = [v for r in reports for v in array("d", r["pairs_ms"])]
    every = [0.0] * size
    for r in reports:
        for i, ms in enumerate(array("d", r["every_ms"])):
            every[i] = max(every[i], ms)
    return {
        "rate_asked": rate,
        "revocations": made["made"],
        "rate_made": made["rate"],
        "seconds": sending,
        "server_core_share": spent_sending / sending,
        "delivered_per_s": delivered / sending,
        "server_cpu_us_per_delivery": spent / delivered * 1e6 if delivered else None,
        "p50_ms": quantile(pairs, 0.50),
        "p99_ms": quantile(pairs, 0.99),
        "every_follower_p50_ms": quantile(every, 0.50),
        "every_follower_p99_ms": quantile(every, 0.99),
        "max_ms": max(pairs, default=float("nan")),
        "followers_short": sum(r["short"] for r in reports),
        "followers_over": sum(r["over"] for r in reports),
        "ended_streams": sum(r["ended"] for r in reports),
        "resnapshots": sum(r["resnapshots"] for r in reports),
        "duplicates_sampled": sum(r["duplicates"] for r in reports),
        "missing_sampled": sum(r["missing_sampled"] for r in reports),
        "sampled_followers": sum(r["sampled"] for r in reports),
        "drain_s": max(r["drain_s"] for r in reports),
        "revoker_core_share": made["cpu_s"] / sending,
        "redis_core_share": redis_spent / sending,
        "server_rss_mib": server.rss_mib(),
        "_client_cpu_s": sum(r["cpu_s"] for r in reports),
    }


def prefill(url: str) -> None:
    """PREFILL revocations before any follower connects (fills the buffer)."""
    client, deny, keys = deny_script(url)
    forget_at, ttl = repr(time.time() + FORGET_AFTER), str(int(FORGET_AFTER * 1000))
    for start in range(0, PREFILL, 500):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(PREFILL, start + 500)):
            deny(keys=keys, args=[f"p.{i}.0", forget_at, ttl], client=pipe)
        pipe.execute()
    client.close()


def at_target(ctx: Any, server: Any, url: str, auth: str, counts: list[int]) -> list[Any]:
    """TARGET_RATE with each follower count, until one falls behind."""
    rows = []
    for k in counts:
        run = sweep(ctx, server, url, auth, k, [TARGET_RATE])
        rows.append({**run["rates"][-1], "followers": k, "idle_core_share": run["idle_core_share"]})
        if not rows[-1]["kept_up"]:
            break
    return rows


#: Figures whose median over the rounds the summary gives.
SUMMED = (
    "server_core_share",
    "redis_core_share",
    "followers_core_share",
    "delivered_per_s",
    "server_cpu_us_per_delivery",
    "p50_ms",
    "p99_ms",
    "every_follower_p50_ms",
    "every_follower_p99_ms",
    "followers_short",
    "resnapshots",
    "missing_sampled",
    "duplicates_sampled",
    "rate_made",
)


def summary(rounds: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Medians over the rounds: per rate (n followers) and per follower
    count (at TARGET_RATE); ``kept_up_rounds`` says in how many it kept up."""

    def medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"rounds": len(rows)}
        out["kept_up_rounds"] = sum(1 for r in rows if r["kept_up"])
        for key in SUMMED:
            values = [r[key] for r in rows if r[key] is not None and r[key] == r[key]]
            out[key] = statistics.median(values) if values else None
        return out

    by_rate: dict[float, list[dict[str, Any]]] = {}
    by_count: dict[int, list[dict[str, Any]]] = {}
    for r in rounds:
        for row in r["sweep"]["rates"]:
            by_rate.setdefault(row["rate_asked"], []).append(row)
        for row in r["at_target"]:
            by_count.setdefault(row["followers"], []).append(row)
    return {
        "followers": n,
        "idle_core_share": statistics.median(r["sweep"]["idle_core_share"] for r in rounds),
        "by_rate": [{"rate": k, **medians(v)} for k, v in sorted(by_rate.items())],
        "at_target_by_followers": [
            {"followers": k, **medians(v)} for k, v in sorted(by_count.items())
        ],
    }


def main(n: int, rates: list[float], counts: list[int]) -> None:
    pin = pinning()
    results: dict[str, Any] = {
        "benchmark": "bench/scale_followers.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "note": (
            f"{pin.describe()} (followers in {CLIENTS} processes and the revoker on core 1, "
            "throwaway redis-server unpinned); a fresh server and redis-server per round; "
            "shared, noisy machine"
        ),
        "store": "redis (throwaway)",
        "seconds_per_rate": SECONDS,
        "prefill": PREFILL,
        "target_rate": TARGET_RATE,
    }
    rounds: list[dict[str, Any]] = []
    for i in range(ROUNDS):
        rounds.append(one_round(pin, n, rates, counts))
        # Written after every round: a later one failing keeps the earlier.
        results.update(summary(rounds, n), rounds=len(rounds), per_round=rounds)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "scale_followers.json").write_text(json.dumps(results, indent=2) + "\n")
        print(f"round {i + 1} of {ROUNDS} done", file=sys.stderr, flush=True)
    print(json.dumps({k: v for k, v in results.items() if k != "per_round"}, indent=2))


def one_round(pin: Any, n: int, rates: list[float], counts: list[int]) -> dict[str, Any]:
    """A fresh redis-server and server: the sweep at n followers, then the
    follower counts at TARGET_RATE. Fresh, because the view a round leaves
    (tens of thousands of denied jtis) is in every later snapshot."""
    os.sched_setaffinity(0, os.sched_getaffinity(0) | {0, LOAD_CORE})
    redis = ThrowawayRedis()  # started unpinned: it runs on either core
    redis.start()
    REDIS_PID[0] = redis._proc.pid  # type: ignore[union-attr]
    if not pin.problem:
        os.sched_setaffinity(0, {LOAD_CORE})  # followers and revoker inherit it
    ctx = multiprocessing.get_context("fork")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            url = f"{redis.url}?prefix=fanout"
            env = {**jwtwarden_env(work, url, "feed"), "JWTWARDEN_ACCESS_LOG": "false"}
            creds = json.loads(jwtwarden("clients", "add", "followers", env=env, cwd=work))
            auth = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode())
            with jwtwarden_server(work, env, access_log=False, pin=pin.server, name="feed") as srv:
                prefill(url)
                time.sleep(3)  # the server's follower applies them before anyone connects
                try:
                    return {
                        "sweep": sweep(ctx, srv, url, auth.decode(), n, rates),
                        "at_target": at_target(ctx, srv, url, auth.decode(), counts),
                    }
                finally:
                    RESULTS.mkdir(exist_ok=True)
                    (RESULTS / "scale_followers.log").write_text(srv.log_tail(200))
    finally:
        redis.remove()


def sample_every(n: int) -> int:
    """Every follower parses when there are few; every SAMPLE_EVERY-th else."""
    return 1 if n <= 50 else SAMPLE_EVERY


def sweep(ctx: Any, server: Any, url: str, auth: str, n: int, rates: list[float]) -> dict[str, Any]:
    """n followers (fresh streams) through an idle phase, then each rate."""
    port = int(server.url.rsplit(":", 1)[1])
    pipes, procs = [], []
    for k in range(CLIENTS):
        mine, theirs = ctx.Pipe()
        share = n // CLIENTS + (1 if k < n % CLIENTS else 0)
        first = k * (n // CLIENTS) + min(k, n % CLIENTS)
        args = (theirs, port, auth, share, first, sample_every(n))
        procs.append(ctx.Process(target=follower_process, args=args))
        pipes.append(mine)
    mine, theirs = ctx.Pipe()
    procs.append(ctx.Process(target=revoker_process, args=(theirs, url)))
    for p in procs:
        p.start()
    phases = []
    try:
        rss_idle_before = server.rss_mib()
        ready = [p.recv() for p in pipes]
        client_cpu = sum(r["cpu_s"] for r in ready)
        rss_connected = server.rss_mib()
        for phase, rate in enumerate([0.0, *rates]):
            row = run_phase(phase, rate, server, mine, pipes)
            row["kept_up"] = not (row["followers_short"] or row["resnapshots"])
            row["followers_core_share"] = (row["_client_cpu_s"] - client_cpu) / (
                row["seconds"] + row["drain_s"]
            )
            client_cpu = row.pop("_client_cpu_s")
            phases.append(row)
            print(f"R={rate:,.0f}/s: {json.dumps(row)}", file=sys.stderr, flush=True)
            if not row["kept_up"] or row["server_core_share"] >= SATURATED:
                break
    finally:
        for p in [*pipes, mine]:
            with contextlib.suppress(OSError):
                p.send(None)
        for p in procs:
            p.join(20)
            if p.is_alive():
                p.kill()
    idle = phases[0]["server_core_share"]
    for row in phases:
        row["server_core_share_over_idle"] = row["server_core_share"] - idle
    return {
        "benchmark": "bench/scale_followers.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "store": "redis (throwaway)",
        "followers": n,
        "client_processes": CLIENTS,
        "sampled_every": sample_every(n),
        "server_rss_mib_before_followers": rss_idle_before,
        "server_rss_mib_connected": rss_connected,
        "idle_core_share": idle,
        "rates": phases,
    }


if __name__ == "__main__":
    args = [*sys.argv[1:], "", "", ""]
    main(
        int(args[0] or 500),
        [float(r) for r in (args[1] or "10,100,500,1000,2000,5000").split(",")],
        [int(k) for k in (args[2] or "1,2,5,10,20,50").split(",")],
    )
