"""DPoP at a resource server: a DPoP-bound presentation against a plain
bearer one, measured in the same run. Run on demand:
``python bench/dpop_verify.py [--seconds N] [--rounds N] [--no-http]``
(about two minutes; the HTTP part needs ``wrk`` and ``taskset``).

- in process: ``Verifier.verify_request`` of a bearer token against the
  same call for a bound token with a fresh proof (the verified-token cache
  warm for both, as for a client that keeps its token), per proof
  algorithm (ES256, EdDSA, RS256), and the same DPoP call with the cache
  of parsed proof keys bypassed, which is what it saves. Proofs are
  pre-signed before each round (signing is the client's cost, reported
  apart), calls interleaved round by round, medians of ROUNDS rounds.
- memory: a full :class:`~jwtwarden.verifier.dpop.ReplayCache` of the
  default 20,000 proofs (tracemalloc).
- over HTTP: a Starlette route behind ``VerifierMiddleware`` (uvicorn, one
  worker pinned to core 0), loaded by wrk pinned to core 1 with
  bench/_dpop.lua, which sends every request with the next of N pre-signed
  proofs, per algorithm (N is 1.5x what the bearer round served, so none
  repeats within a round; a fresh set is signed just before each round,
  inside the proofs' 60 s window). The bearer round runs the same script, so the
  load generator does the same work. Target: DPoP >= 0.7x bearer.

The machine is shared and noisy: read ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _support import BENCH, Load, free_port, serve, wait_for_status

from jwtwarden import Verifier
from jwtwarden.dpop_client import DpopKey
from jwtwarden.tokens import dpop as proofs
from jwtwarden.tokens.access import encode_access_token
from jwtwarden.tokens.jwks import export_jwks
from jwtwarden.tokens.keys import SigningKey, generate_key
from jwtwarden.verifier.dpop import DEFAULT_REPLAY_ENTRIES, ReplayCache

ROUNDS = 7
ISSUER = "https://auth.bench.test"
AUDIENCE = "jwtwarden"
URI = "https://api.bench.test/me"
#: Proofs per in-process round, per algorithm (RS256 signs slowly).
PROOFS = {"ES256": 3000, "EdDSA": 3000, "RS256": 1000}
UVICORN = [sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "warning"]
UVICORN += ["--loop", "uvloop", "--http", "httptools", "--host", "127.0.0.1"]


def access_token(key: SigningKey, **extra: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "7f8a3c52-4b8e-4d2f-9a1e-0c6b5e2d1f00",
        "sid": secrets.token_urlsafe(16),
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "auth_time": now,
        "exp": now + 3600,
        "roles": ["user"],
        "client_id": "jwtwarden",
        **extra,
    }
    return encode_access_token(claims, key)


def timed(calls: list[Callable[[], object]]) -> float:
    """Calls/s of running each of ``calls`` once."""
    start = time.perf_counter()
    for call in calls:
        call()
    return len(calls) / (time.perf_counter() - start)


def in_process() -> dict[str, float]:
    signer = generate_key("EdDSA", time.time())
    # Replay entries for every proof of the run: this measures the checks,
    # not the floor of a full cache.
    verifier = Verifier(
        issuer=ISSUER, audience=AUDIENCE, keys=[signer], dpop_replay_entries=1_000_000
    )
    bearer = access_token(signer)
    holders = {alg: DpopKey.generate(alg) for alg in PROOFS}
    bound = {alg: access_token(signer, cnf={"jkt": k.jkt}) for alg, k in holders.items()}
    rates: dict[str, list[float]] = {}
    sign_us: dict[str, list[float]] = {alg: [] for alg in PROOFS}
    cached_key = proofs._header_key
    for _ in range(ROUNDS):
        for alg, n in PROOFS.items():
            key, token = holders[alg], bound[alg]
            start = time.perf_counter()
            fresh = [key.proof("GET", URI, token) for _ in range(2 * n)]
            sign_us[alg].append((time.perf_counter() - start) / (2 * n) * 1e6)
            auth = f"DPoP {token}"
            with_cache = [
                lambda p=p, a=auth: verifier.verify_request("GET", URI, a, p) for p in fresh[:n]
            ]
            rates.setdefault(f"dpop {alg}", []).append(timed(with_cache))
            proofs._header_key = cached_key.__wrapped__  # type: ignore[attr-defined]
            try:
                without = [
                    lambda p=p, a=auth: verifier.verify_request("GET", URI, a, p) for p in fresh[n:]
                ]
                rates.setdefault(f"dpop {alg}, key not cached", []).append(timed(without))
            finally:
                proofs._header_key = cached_key
        calls = [lambda: verifier.verify_request("GET", URI, f"Bearer {bearer}")] * 20_000
        rates.setdefault("bearer", []).append(timed(calls))
    base = rates["bearer"]
    out = {"bearer verify_request /s": statistics.median(base)}
    for name, values in rates.items():
        if name == "bearer":
            continue
        out[f"{name} /s"] = statistics.median(values)
        out[f"{name} ratio to bearer"] = statistics.median(
            a / b for a, b in zip(values, base, strict=True)
        )
    for alg, values in sign_us.items():
        out[f"client signs one {alg} proof, µs"] = statistics.median(values)
    return out


def replay_cache_memory() -> dict[str, float]:
    cache = ReplayCache()
    now = time.time()
    keys = [f"{secrets.token_urlsafe(32)}:{secrets.token_urlsafe(16)}" for _ in range(20_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key in keys:
        cache.first_use(key, iat=now, until=now + 65, now=now)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(cache) == DEFAULT_REPLAY_ENTRIES
    return {
        "replay cache, 20,000 proofs, MiB": (after - before) / 2**20,
        "replay cache bytes per proof": (after - before) / len(cache),
    }


def make_app() -> Any:
    """The protected route under test (uvicorn ``--factory``): keys and
    replay bound from the environment bench/dpop_verify.py sets."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from jwtwarden.verifier.asgi import VerifierMiddleware, claims_of

    jwks = json.loads(Path(os.environ["DPOP_BENCH_JWKS"]).read_text())
    verifier = Verifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=jwks,
        dpop_replay_entries=int(os.environ["DPOP_BENCH_REPLAY"]),
    )

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": claims_of(request.scope).sub})

    return Starlette(
        routes=[Route("/me", me)], middleware=[Middleware(VerifierMiddleware, verifier=verifier)]
    )


def over_http(load: Load, work: Path) -> dict[str, float]:
    signer = generate_key("EdDSA", time.time())
    holders = {alg: DpopKey.generate(alg) for alg in PROOFS}
    (work / "jwks.json").write_text(json.dumps(export_jwks([signer])))
    (work / "bearer.token").write_text(access_token(signer))
    bound = {alg: access_token(signer, cnf={"jkt": k.jkt}) for alg, k in holders.items()}
    for alg, token in bound.items():
        (work / f"{alg}.token").write_text(token)
    port = free_port()
    env = {
        **os.environ,
        "DPOP_BENCH_JWKS": str(work / "jwks.json"),
        # Every proof of a round, so this measures the checks; the default
        # (20,000) holds 300 proofs/s over the window.
        "DPOP_BENCH_REPLAY": "2000000",
    }
    cmd = [*UVICORN, "--app-dir", str(BENCH), "--port", str(port), "--factory"]
    cmd.append("dpop_verify:make_app")
    script = ["-s", str(BENCH / "_dpop.lua")]
    runs: dict[str, list[dict[str, float]]] = {}
    with serve(cmd, port, cwd=work, env=env, log=work / "dpop.log", pin=load.pin.server) as server:
        url = server.url + "/me"
        headers = {"authorization": f"Bearer {(work / 'bearer.token').read_text()}"}
        wait_for_status(lambda: httpx.get(url, headers=headers).status_code, what="the app")
        for _ in range(load.rounds):
            args = ("bearer", str(work / "bearer.token"))
            run = load.round(server, url, *script, script_args=args)
            runs.setdefault("bearer", []).append(run)
            n = int(run["requests"] * 1.5) + 1000
            for alg, key in holders.items():
                # Signed just before its round: well inside the 60 s window.
                with (work / "proofs.txt").open("w") as out:
                    out.writelines(key.proof("GET", url, bound[alg]) + "\n" for _ in range(n))
                args = ("dpop", str(work / f"{alg}.token"), str(work / "proofs.txt"))
                runs.setdefault(f"dpop {alg}", []).append(
                    load.round(server, url, *script, script_args=args)
                )
        rss = server.rss_mib()
    base = [r["rps"] for r in runs["bearer"]]
    out: dict[str, float] = {}
    for name, rounds in runs.items():
        rps = [r["rps"] for r in rounds]
        out[f"http {name} req/s"] = statistics.median(rps)
        if name != "bearer":
            out[f"http {name} ratio to bearer"] = statistics.median(
                d / b for d, b in zip(rps, base, strict=True)
            )
        out[f"http {name} p99 ms"] = statistics.median(r["p99_ms"] for r in rounds)
        out[f"http {name} CPU µs per request"] = statistics.median(
            r["cpu_us_per_request"] for r in rounds
        )
        out[f"http {name} non-2xx"] = max(r["non_2xx"] for r in rounds)
    out["http worker RSS after, MiB"] = rss
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-http", action="store_true", help="in process only")
    args = parser.parse_args()
    results = in_process()
    results.update(replay_cache_memory())
    load = None
    if not args.no_http:
        if shutil.which("wrk") is None:
            sys.exit("the HTTP part needs wrk: apt-get install wrk (or --no-http)")
        load = Load(seconds=args.seconds, rounds=args.rounds)
        with tempfile.TemporaryDirectory() as tmp:
            results.update(over_http(load, Path(tmp)))
    width = max(map(len, results))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, in process: medians of "
        f"{ROUNDS} rounds; noisy shared machine, read the ratios"
    )
    if load is not None:
        print(f"http: {load.describe()}")
    for name, value in results.items():
        print(f"{name.ljust(width)}  {value:,.2f}")


if __name__ == "__main__":
    main()
