"""HTTP benchmark of the jwtwarden server alone, by the pinned method of
``bench/_support.py``: each server under test is one worker process pinned
to core 0, wrk is pinned to core 1 (``wrk -t1 -c32``), medians of ROUNDS
rounds, worker RSS after each, all on 127.0.0.1. Reports req/s, p50/p99 and
RSS of

  (a) a bare Starlette JSON endpoint on the same uvicorn settings: the baseline,
  (b) GET /me with a live access token,
  (c) the refresh grant with a fresh refresh token per request, on SQLite,
      PostgreSQL and Redis (``python bench/server.py sqlite`` for one),
  (d) a protected route of examples/starlette_app.py (VerifierMiddleware: keys
      from the server's JWKS, revocations from its feed, no call per request),

each as a ratio to (a). ``JWTWARDEN_ACCESS_LOG=false`` turns the server's
access log off for (b) and (c); it is on by default, as in production.
Run: ``python bench/server.py [KIND ...] [--seconds N] [--rounds N]`` (needs
``wrk``: ``apt-get install wrk``, and ``taskset``; a few minutes: the fresh
refresh tokens are real logins). jwtwarden against its peers, in the same
method: ``python bench/peers/run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
from _support import (
    BENCH,
    Load,
    Server,
    free_port,
    jwtwarden,
    jwtwarden_env,
    jwtwarden_refresh,
    jwtwarden_server,
    login,
    serve,
    store_url,
    wait_for_status,
)

UVICORN = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]
UVICORN += ["--loop", "uvloop", "--http", "httptools", "--host", "127.0.0.1"]


def bearer(url: str, token: str) -> int:
    return httpx.get(url, headers={"authorization": f"Bearer {token}"}).status_code


def baseline(load: Load, work: Path) -> dict[str, float]:
    """(a): bench/_bare_app.py on the same uvicorn settings."""
    port = free_port()
    cmd = [*UVICORN, "--app-dir", str(BENCH), "--port", str(port), "_bare_app:app"]
    with serve(
        cmd, port, cwd=work, env=dict(os.environ), log=work / "bare.log", pin=load.pin.server
    ) as server:
        wait_for_status(lambda: httpx.get(server.url + "/").status_code, what="bare app")
        return load.rounds_of(server, server.url + "/")


def example_app(
    load: Load, issuer: Server, token: str, work: Path, env: dict[str, str]
) -> dict[str, float]:
    """(d): a protected route of examples/starlette_app.py, verifying with
    keys from the server's JWKS and revocations from its feed. The issuer
    keeps running (on core 0 too), idle but for the feed."""
    creds = json.loads(jwtwarden("clients", "add", f"bench-{free_port()}", env=env, cwd=work))
    port = free_port()
    app_env = {
        **env,
        "JWTWARDEN_ISSUER": issuer.url,
        "JWTWARDEN_CLIENT_ID": creds["client_id"],
        "JWTWARDEN_CLIENT_SECRET": creds["client_secret"],
    }
    cmd = [
        *UVICORN,
        "--app-dir",
        str(BENCH.parent),
        "--port",
        str(port),
        "examples.starlette_app:app",
    ]
    with serve(
        cmd, port, cwd=work, env=app_env, log=work / "example.log", pin=load.pin.server
    ) as server:
        url = server.url + "/me"
        wait_for_status(lambda: bearer(url, token), what="the example app")  # first snapshot
        return load.rounds_of(server, url, "-H", f"Authorization: Bearer {token}")


def measure_store(kind: str, load: Load, work: Path) -> dict[str, dict[str, float]]:
    """GET /me and (d) (sqlite only) and the refresh grant on one store."""
    out: dict[str, dict[str, float]] = {}
    access_log = os.environ.get("JWTWARDEN_ACCESS_LOG", "true").lower() != "false"
    with store_url(kind, work) as url_of_store:
        env = jwtwarden_env(work, url_of_store, kind)
        with jwtwarden_server(
            work, env, access_log=access_log, pin=load.pin.server, name=kind
        ) as server:
            if kind == "sqlite":
                token = login(server.url)["access_token"]
                url = server.url + "/me"
                wait_for_status(lambda: bearer(url, token), what="GET /me")
                out["GET /me (b)"] = load.rounds_of(
                    server, url, "-H", f"Authorization: Bearer {token}"
                )
                out["starlette example /me (d)"] = example_app(load, server, token, work, env)
            out[f"refresh grant, {kind} (c)"] = jwtwarden_refresh(load, server, work)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", help="sqlite, postgres, redis (default: all)")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = args.kinds or ["sqlite", "postgres", "redis"]
    if not set(kinds) <= {"sqlite", "postgres", "redis"}:
        parser.error(f"unknown store in {kinds}")
    if shutil.which("wrk") is None:
        sys.exit("bench/server.py needs wrk: apt-get install wrk")
    load = Load(seconds=args.seconds, rounds=args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {"bare starlette (a)": baseline(load, work)}
        for kind in kinds:
            results.update(measure_store(kind, load, work))

    bare = results["bare starlette (a)"]["rps"]
    log = os.environ.get("JWTWARDEN_ACCESS_LOG", "true")
    print(f"{load.describe()}; one worker each; jwtwarden access log {log}")
    for name, r in results.items():
        print(
            f"{name:28} {r['rps']:9,.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms  RSS {r['rss_mib']:5.1f} MiB  "
            f"core {r['core_share']:4.0%}  {r['cpu_us_per_request']:5.0f} µs/req  "
            f"ratio {r['rps'] / bare:.3f}  non-2xx {r['non_2xx']:.0f}"
        )


if __name__ == "__main__":
    main()
