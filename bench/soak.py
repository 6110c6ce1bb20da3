"""Soak: does a worker's memory stay flat under a long mixed load?

One ``jwtwarden serve`` worker, pinned to core 0 as in bench/server.py
(access log on, 30-second access tokens), is driven by wrk on core 1
(``bench/_soak.lua``, 32 connections) with REQUESTS mixed requests: in every
20, 17 ``GET /me``, 2 refresh grants and 1 revocation of an access token,
round-robin over SESSIONS sessions (so about a fifth of
the ``GET /me`` meet a revoked access token and are answered 401, until the
session's next refresh: the denylist path is soaked too). Logins are few (they are argon2 by
design): SESSIONS at the start, and between every two phases of 100,000
requests 20 sessions end (``/revoke`` of their refresh token) and 20 new ones
log in. RSS of the worker is printed after each phase; the verdict compares
it after the whole run with after the first 100,000 (issue 17: at most 1.1x).

Run: ``python bench/soak.py [sqlite] [redis] [--requests N]``. All traffic is
on 127.0.0.1; it stops by itself, and prints how long it took (about 3 to 5
minutes per store per million requests on the project's 2-core machine).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _support import (
    BENCH,
    PASSWORD,
    Load,
    jwtwarden_env,
    jwtwarden_server,
    store_url,
)

PHASE = 100_000
SESSIONS = 201  # prime to 20, so each session meets every kind of request
TURNOVER = 20


def log_in(url: str, n: int) -> list[str]:
    """n new sessions: "refresh_token access_token" lines."""
    form = {"grant_type": "password", "username": "bench", "password": PASSWORD}
    with httpx.Client(base_url=url, timeout=30) as client:
        pairs = [client.post("/token", data=form).json() for _ in range(n)]
    return [f"{p['refresh_token']} {p['access_token']}" for p in pairs]


def end_sessions(url: str, lines: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for line in lines:
            client.post("/revoke", data={"token": line.split()[0]})


def phase(load: Load, url: str, state: Path, n: int) -> dict[str, int]:
    """n requests by bench/_soak.lua; the statuses wrk saw."""
    cmd = [*load.pin.load, "wrk", "-t1", f"-c{load.connections}", "-d3600s", "--timeout", "10s"]
    cmd += ["-s", str(BENCH / "_soak.lua"), url, "--", str(state), str(n), str(state)]
    subprocess.run(cmd, capture_output=True, timeout=3700, check=True)
    statuses: dict[str, int] = {}
    kept = []
    for line in state.read_text().splitlines():
        if line.startswith("# "):
            _, code, count = line.split()
            statuses[code] = int(count)
        else:
            kept.append(line)
    state.write_text("\n".join(kept) + "\n")
    return statuses


def soak(kind: str, load: Load, requests: int, work: Path) -> tuple[float, float]:
    with store_url(kind, work) as url_of_store:
        env = {**jwtwarden_env(work, url_of_store, kind), "JWTWARDEN_ACCESS_TTL": "30"}
        with jwtwarden_server(work, env, access_log=True, pin=load.pin.server, name=kind) as server:
            state = work / f"soak-{kind}.txt"
            state.write_text("\n".join(log_in(server.url, SESSIONS)) + "\n")
            rss: list[float] = []
            done, start = 0, time.monotonic()
            while done < requests:
                n = min(PHASE, requests - done)
                statuses = phase(load, server.url, state, n)
                done += n
                rss.append(server.rss_mib())
                print(
                    f"{kind:7} {done:>9,} requests  RSS {rss[-1]:6.1f} MiB  "
                    f"{time.monotonic() - start:5.0f} s  statuses {statuses}",
                    flush=True,
                )
                lines = state.read_text().split("\n")[:-1]
                end_sessions(server.url, lines[:TURNOVER])
                state.write_text("\n".join(lines[TURNOVER:] + log_in(server.url, TURNOVER)) + "\n")
            return rss[0], rss[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", help="sqlite, redis (default: both)")
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    kinds = args.kinds or ["sqlite", "redis"]
    if shutil.which("wrk") is None:
        sys.exit("bench/soak.py needs wrk: apt-get install wrk")
    load = Load()
    print(f"{load.describe()}; one worker; access log on; {args.requests:,} requests per store")
    started = time.monotonic()
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            first, last = soak(kind, load, args.requests, Path(tmp))
            ratio = last / first
            verdicts.append(
                f"{kind}: RSS {first:.1f} MiB after {PHASE:,}, {last:.1f} MiB after "
                f"{args.requests:,}: {ratio:.3f}x ({'ok' if ratio <= 1.1 else 'OVER'} 1.1x)"
            )
    for line in verdicts:
        print(line)
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
