"""Core benchmark: verification, rotation and login, each as a ratio to a
baseline measured in the same run. Medians of several rounds (this machine
is noisy). Run: ``python bench/core.py`` (about a minute).

- verify: jwtwarden ``Verifier.verify`` on a cold token (signature, claims and a revocation
  view of 100,000 denied jtis and 10,000 cutoffs) against bare PyJWT
  ``jwt.decode`` of the same token with the same key. Target >= 0.9x.
- refresh: rotations/s on the memory and SQLite stores, against the floor of
  what every rotation must do: sign one access token (memory), plus one bare
  ``UPDATE ... RETURNING`` on the same SQLite file (sqlite).
- login: logins/s against one bare argon2id verification with the same
  parameters (the default strong ones, and the cheap test ones, named so).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jwt
from argon2 import PasswordHasher

from jwtwarden import Policy, RevocationView, SystemClock, TokenService, Verifier
from jwtwarden.core.revocation import UserRevocation
from jwtwarden.keysource import EphemeralKeySource, FileKeySource, KeyManager
from jwtwarden.passwords import Passwords
from jwtwarden.stores import open_store

ROUNDS = 7
CHEAP_TEST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
DEFAULT_ARGON2 = {"time_cost": 3, "memory_cost": 65_536, "parallelism": 4}


def per_second(fn: Callable[[], object], n: int) -> float:
    """Median calls/s of ``fn`` over ROUNDS rounds of ``n`` calls."""
    rates = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


async def aper_second(fn: Callable[[], object], n: int, rounds: int = ROUNDS) -> float:
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            await fn()  # type: ignore[misc]
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


async def service_on(url: str, tmp: Path, argon2: dict[str, int]) -> TokenService:
    store = open_store(url)
    source = EphemeralKeySource() if url == "memory://" else FileKeySource(tmp / "keys")
    policy = Policy(access_ttl=300)
    svc = TokenService(
        store,
        KeyManager(source, "EdDSA", 300),
        policy,
        passwords=Passwords(**argon2),
        clock=SystemClock(),
    )
    await svc.start()
    return svc


async def bench_verify(tmp: Path) -> dict[str, float]:
    svc = await service_on("memory://", tmp, CHEAP_TEST_ARGON2)
    await svc.create_user("alice", "correct horse")
    pair = await svc.login("alice", "correct horse")
    view = RevocationView()
    far = time.time() + 3600
    for _ in range(100_000):
        view.deny_jti(secrets.token_urlsafe(16), far)
    for i in range(10_000):
        view.set_user(f"user-{i}", UserRevocation(time.time()), far)
    # cache_size=0: every call verifies the signature (a cold token); the
    # warm path, a token seen before, is in bench/verifier.py.
    verifier = Verifier(
        issuer=svc.policy.issuer,
        audience=svc.policy.audience,
        keys=svc.jwks(),
        view=view,
        cache_size=0,
    )
    key = svc.keys.signing_key()
    token, issuer, audience = pair.access_token, svc.policy.issuer, svc.policy.audience

    def bare() -> object:
        return jwt.decode(token, key.public, algorithms=["EdDSA"], audience=audience, issuer=issuer)

    assert verifier.verify(token).sub == bare()["sub"]  # type: ignore[index]
    n = 3000
    base = per_second(bare, n)
    ours = per_second(lambda: verifier.verify(token), n)
    await svc.close()
    return {
        "verify_bare_pyjwt_per_s": base,
        "verify_jwtwarden_per_s": ours,
        "verify_ratio": ours / base,
        "view_entries": float(len(view)),
    }


async def bench_refresh(tmp: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind, url in (("memory", "memory://"), ("sqlite", f"sqlite:///{tmp / 'bench.db'}")):
        ours, base = await _refresh_rates(kind, url, tmp)
        out[f"refresh_{kind}_per_s"] = ours
        out[f"refresh_{kind}_floor_per_s"] = base
        out[f"refresh_{kind}_ratio_to_floor"] = ours / base
    return out


async def _refresh_rates(kind: str, url: str, tmp: Path) -> tuple[float, float]:
    svc = await service_on(url, tmp, CHEAP_TEST_ARGON2)
    await svc.create_user("alice", "correct horse")
    state = {"rt": (await svc.login("alice", "correct horse")).refresh_token}

    async def rotate() -> None:
        state["rt"] = (await svc.refresh(state["rt"])).refresh_token

    key = svc.keys.signing_key()
    claims = {"sub": "x", "exp": int(time.time()) + 300}
    conn = sqlite3.connect(tmp / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS s (sid TEXT PRIMARY KEY, g INTEGER)")
    conn.execute("INSERT OR REPLACE INTO s VALUES ('a', 0)")

    async def floor() -> None:
        jwt.encode(claims, key.private, algorithm="EdDSA")
        if kind == "sqlite":
            conn.execute("UPDATE s SET g = g + 1 WHERE sid = 'a' RETURNING g").fetchone()

    base = await aper_second(floor, 1000)
    ours = await aper_second(rotate, 1000)
    conn.close()
    await svc.close()
    return ours, base


async def bench_login(tmp: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, params, n, rounds in (
        ("default", DEFAULT_ARGON2, 10, 3),
        ("cheap_test", CHEAP_TEST_ARGON2, 300, ROUNDS),
    ):
        svc = await service_on("memory://", tmp, params)
        await svc.create_user("alice", "correct horse")
        hasher = PasswordHasher(**params)
        stored = hasher.hash("correct horse")

        async def bare(h: PasswordHasher = hasher, s: str = stored) -> None:
            h.verify(s, "correct horse")

        async def login(svc: TokenService = svc) -> None:
            await svc.login("alice", "correct horse")

        base = await aper_second(bare, n, rounds)
        ours = await aper_second(login, n, rounds)
        out[f"login_{name}_argon2_per_s"] = ours
        out[f"login_{name}_bare_argon2_verify_per_s"] = base
        out[f"login_{name}_ratio"] = ours / base
        await svc.close()
    return out


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[str, float] = {}
        for part in (bench_verify, bench_refresh, bench_login):
            results.update(await part(Path(tmp)))
    width = max(map(len, results))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, medians of {ROUNDS} rounds")
    for name, value in results.items():
        print(f"{name.ljust(width)}  {value:,.2f}")


if __name__ == "__main__":
    asyncio.run(main())
