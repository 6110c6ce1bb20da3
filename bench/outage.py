"""Outage benchmark: a PostgreSQL store stopped under load (issue 17, part 2).

A real ``jwtwarden serve`` (one worker) runs on a throwaway PostgreSQL
cluster of its own (``tests/stores/throwaway.py``: ``initdb`` and ``pg_ctl``
under /usr/lib/postgresql/*/bin, a free loopback port, removed afterwards).
A bounded load (``CONCURRENCY`` clients in a loop, each request a store read:
``GET /sessions``) runs while the cluster is stopped with ``pg_ctl stop -m
immediate`` for ``--seconds`` (default 10), and ``/readyz`` is asked every
50 ms. Then the cluster starts again, and the time from "the server accepts
connections again" to the first 200 is the recovery time.

Printed: how many requests completed during the outage, their latency p50 /
p99 / max (all 503 with Retry-After once the circuit breaker is open),
``/readyz``'s worst latency, and the recovery time. ``tests/stores/
test_outage.py`` runs the same measurement, shorter, and asserts the bounds.

Run: ``python bench/outage.py [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stores.throwaway import ThrowawayPostgres  # noqa: E402

PASSWORD = "correct horse battery"
CONCURRENCY = 8
CHEAP_ARGON2 = {
    "JWTWARDEN_ARGON2_TIME_COST": "1",
    "JWTWARDEN_ARGON2_MEMORY_COST": "8",
    "JWTWARDEN_ARGON2_PARALLELISM": "1",
}


#: Asks /readyz every 50 ms for argv[2] seconds; prints each answer's time.
_READYZ_PROBER = """
import sys, time, httpx
url, ends = sys.argv[1], time.monotonic() + float(sys.argv[2])
with httpx.Client(timeout=10) as client:
    while time.monotonic() < ends:
        start = time.monotonic()
        client.get(url)
        print(time.monotonic() - start)
        time.sleep(0.05)
"""


@dataclass
class Figures:
    """What one outage measured; times in seconds."""

    outage: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    #: Latencies of requests sent after the first ``settle`` seconds.
    settled: list[float] = field(default_factory=list)
    readyz: list[float] = field(default_factory=list)
    retry_after: set[str | None] = field(default_factory=set)
    recovery: float = float("nan")

    def report(self) -> str:
        lat = sorted(self.latencies)
        return "\n".join(
            [
                f"outage: {self.outage:.1f} s, {len(lat)} requests completed "
                f"({len(lat) / self.outage:.0f}/s), "
                f"statuses {dict(sorted(self.statuses.items()))}",
                f"outage latency: p50 {_ms(percentile(lat, 50))}, p99 {_ms(percentile(lat, 99))}, "
                f"max {_ms(max(lat, default=0))}; after the first second p99 "
                f"{_ms(percentile(sorted(self.settled), 99))}",
                f"/readyz during the outage: {len(self.readyz)} probes, p99 "
                f"{_ms(percentile(sorted(self.readyz), 99))}, "
                f"max {_ms(max(self.readyz, default=0))}",
                f"Retry-After sent: {sorted(str(r) for r in self.retry_after)}",
                f"recovery (store accepting -> first 200): {_ms(self.recovery)}",
            ]
        )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jwtwarden_serve(store: str, work: Path) -> Iterator[str]:
    """``jwtwarden serve`` on ``store`` with the user alice; its URL."""
    env = {**os.environ, **CHEAP_ARGON2, "JWTWARDEN_STORE": store}
    env["JWTWARDEN_KEY_FILE"] = str(work / "keys")
    env["JWTWARDEN_ACCESS_LOG"] = "false"
    subprocess.run(
        [sys.executable, "-m", "jwtwarden", "users", "add", "alice", "--password-stdin"],
        env=env,
        cwd=work,
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env["JWTWARDEN_ISSUER"] = url
    with (work / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jwtwarden", "serve", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((work / "serve.log").read_text())
            time.sleep(0.05)  # waiting for a real process to listen
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


async def measure(
    cluster: ThrowawayPostgres, url: str, seconds: float, settle: float = 1.0
) -> Figures:
    """Stop ``cluster`` for ``seconds`` under load, start it, time recovery."""
    limits = httpx.Limits(max_connections=CONCURRENCY + 2)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
        token = (await client.post("/token", data=form)).json()["access_token"]
        headers = {"authorization": f"Bearer {token}"}
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        figures = Figures(outage=seconds)
        stop_at = time.monotonic() + 10**9
        stopped = asyncio.Event()

        async def one(path: str) -> tuple[float, httpx.Response]:
            start = time.monotonic()
            response = await client.get(path, headers=headers)
            return time.monotonic() - start, response

        async def load() -> None:
            await stopped.wait()
            began = time.monotonic()
            while time.monotonic() < stop_at:
                sent = time.monotonic()
                took, response = await one("/sessions")
                if time.monotonic() > stop_at:
                    break
                figures.latencies.append(took)
                if sent - began >= settle:
                    figures.settled.append(took)
                figures.statuses[response.status_code] = (
                    figures.statuses.get(response.status_code, 0) + 1
                )
                if response.status_code == 503:
                    figures.retry_after.add(response.headers.get("retry-after"))

        tasks = [asyncio.create_task(load()) for _ in range(CONCURRENCY)]
        await asyncio.to_thread(cluster.stop, "immediate")
        stop_at = time.monotonic() + seconds
        # /readyz is timed from a process of its own, as a load balancer
        # would: this one's event loop is busy with the load.
        prober = subprocess.Popen(
            [sys.executable, "-c", _READYZ_PROBER, url + "/readyz", str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        stopped.set()
        await asyncio.gather(*tasks)
        out, _ = await asyncio.to_thread(prober.communicate)
        figures.readyz = [float(line) for line in out.split()]
        await asyncio.to_thread(cluster.start)  # returns once it accepts connections
        back = time.monotonic()
        while time.monotonic() - back < 30:
            if (await client.get("/sessions", headers=headers)).status_code == 200:
                figures.recovery = time.monotonic() - back
                break
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the outage")
    args = parser.parse_args()
    cluster = ThrowawayPostgres()
    work = Path(tempfile.mkdtemp(prefix="jwtwarden-outage-"))
    try:
        cluster.start()
        with jwtwarden_serve(cluster.url, work) as url:
            print(asyncio.run(measure(cluster, url, args.seconds)).report())
    finally:
        cluster.remove()


if __name__ == "__main__":
    main()
