"""HTTP benchmark: the server as one uvicorn worker, load from wrk (a second
process) on 127.0.0.1, bounded in time. Reports requests/s and p50/p99 of

  (a) a bare Starlette JSON endpoint on the same uvicorn settings: the baseline,
  (b) GET /me with a live access token,
  (c) the refresh grant with a fresh refresh token per request, on SQLite,
      PostgreSQL and Redis (``python bench/server.py sqlite`` for one),
  (d) a protected route of examples/starlette_app.py (VerifierMiddleware: keys
      from the server's JWKS, revocations from its feed, no call per request),

each as a ratio to (a); medians of ROUNDS rounds. ``JWTWARDEN_ACCESS_LOG=false``
turns the server's access log off, as the baseline's is.
Run: ``python bench/server.py`` (needs ``wrk``: ``apt-get install wrk``;
a few minutes: the fresh refresh tokens are real logins).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from _support import CHEAP_TEST_ARGON2, free_port, store_url

ROUNDS = 3
SECONDS = 3
CONNECTIONS = 32
#: Fresh refresh tokens per round: more than a round can spend.
TOKENS_PER_ROUND = 8_000
HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def running(cmd: list[str], port: int, cwd: Path, env: dict[str, str]) -> Iterator[str]:
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code < 500:
                break
        time.sleep(0.05)
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def wrk(url: str, *extra: str, script_args: tuple[str, ...] = ()) -> dict[str, float]:
    tail = ["--", *script_args] if script_args else []
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", *extra, url, *tail],
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


async def fresh_refresh_tokens(url: str, n: int) -> list[str]:
    """Log in n times through the server itself, as clients would (so its
    sessions are its own, as in production)."""
    form = {"grant_type": "password", "username": "bench", "password": "correct horse battery"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one() -> str:
            return str((await client.post("/token", data=form)).json()["refresh_token"])

        tokens: list[str] = []
        while len(tokens) < n:
            tokens += await asyncio.gather(*(one() for _ in range(32)))
    return tokens[:n]


def example_app(issuer: str, token: str, work: Path, env: dict[str, str]) -> dict[str, float]:
    """(d): a protected route of examples/starlette_app.py, verifying with
    keys from the server's JWKS and revocations from its feed."""
    creds = json.loads(
        subprocess.run(
            [sys.executable, "-m", "jwtwarden", "clients", "add", f"bench-{free_port()}"],
            cwd=work,
            env=env,
            text=True,
            check=True,
            capture_output=True,
        ).stdout
    )
    port = free_port()
    app_env = {
        **env,
        "JWTWARDEN_ISSUER": issuer,
        "JWTWARDEN_CLIENT_ID": creds["client_id"],
        "JWTWARDEN_CLIENT_SECRET": creds["client_secret"],
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--no-access-log",
        "--log-level",
        "warning",
        "--app-dir",
        str(HERE.parent),
        "--port",
        str(port),
        "examples.starlette_app:app",
    ]
    with running(cmd, port, work, app_env) as url:
        deadline = time.monotonic() + 10  # the feed's first snapshot
        while (
            httpx.get(url + "/me", headers={"authorization": f"Bearer {token}"}).status_code != 200
        ):
            if time.monotonic() > deadline:
                raise SystemExit("the example app never accepted the token")
            time.sleep(0.05)
        return median(
            [wrk(url + "/me", "-H", f"Authorization: Bearer {token}") for _ in range(ROUNDS)]
        )


def measure_store(kind: str, work: Path, base_env: dict[str, str]) -> dict[str, dict[str, float]]:
    """GET /me (sqlite only) and the refresh grant on one store."""
    out: dict[str, dict[str, float]] = {}
    with store_url(kind, work) as url_of_store:
        env = {
            **base_env,
            "JWTWARDEN_STORE": url_of_store,
            "JWTWARDEN_KEY_FILE": str(work / f"{kind}.keys"),
        }
        jw = [sys.executable, "-m", "jwtwarden"]
        subprocess.run(
            [*jw, "users", "add", "bench", "--password-stdin"],
            cwd=work,
            env=env,
            input="correct horse battery\n",
            text=True,
            check=True,
            capture_output=True,
        )
        port = free_port()
        env["JWTWARDEN_ISSUER"] = f"http://127.0.0.1:{port}"
        env["JWTWARDEN_ACCESS_LOG"] = os.environ.get("JWTWARDEN_ACCESS_LOG", "true")
        with running([*jw, "serve", "--port", str(port)], port, work, env) as url:
            if kind == "sqlite":
                token = httpx.post(
                    url + "/token",
                    data={
                        "grant_type": "password",
                        "username": "bench",
                        "password": "correct horse battery",
                    },
                ).json()["access_token"]
                out["GET /me (b)"] = median(
                    [
                        wrk(url + "/me", "-H", f"Authorization: Bearer {token}")
                        for _ in range(ROUNDS)
                    ]
                )
                out["starlette example /me (d)"] = example_app(url, token, work, env)
            tokens = asyncio.run(fresh_refresh_tokens(url, TOKENS_PER_ROUND * ROUNDS))
            runs = []
            for i in range(ROUNDS):
                chunk = tokens[i * TOKENS_PER_ROUND : (i + 1) * TOKENS_PER_ROUND]
                (work / "rt.txt").write_text("\n".join(chunk) + "\n")
                runs.append(
                    wrk(url, "-s", str(HERE / "_refresh.lua"), script_args=(str(work / "rt.txt"),))
                )
            out[f"refresh grant, {kind} (c)"] = median(runs)
    return out


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/server.py needs wrk: apt-get install wrk")
    kinds = sys.argv[1:] or ["sqlite", "postgres", "redis"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, **CHEAP_TEST_ARGON2}
        uvicorn = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]
        port = free_port()
        with running(
            [*uvicorn, "--app-dir", str(HERE), "--port", str(port), "_bare_app:app"],
            port,
            work,
            env,
        ) as url:
            bare = median([wrk(url + "/") for _ in range(ROUNDS)])
        results = {"bare starlette (a)": bare}
        for kind in kinds:
            results.update(measure_store(kind, work, env))

    log = os.environ.get("JWTWARDEN_ACCESS_LOG", "true")
    print(
        f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s, medians of {ROUNDS} rounds, one uvicorn "
        f"worker, access log {log}"
    )
    for name, result in results.items():
        print(
            f"{name:28} {result['rps']:9,.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
            f"p99 {result['p99_ms']:6.2f} ms  ratio {result['rps'] / bare['rps']:.3f}  "
            f"non-2xx {result['non_2xx']:.0f}"
        )


if __name__ == "__main__":
    main()
