"""Verifier benchmark: ``Verifier.verify`` against bare PyJWT ``jwt.decode``
of the same EdDSA token with the same key, both measured in the same run.
Medians of several rounds (this machine is noisy). Run on demand:
``python bench/verifier.py`` (about half a minute).

- cold: the verified-token cache disabled (``cache_size=0``): signature,
  claims and a revocation view of 100,000 denied jtis and 10,000 user
  cutoffs. Target >= 1.0x bare PyJWT, which checks no revocation at all.
- warm: the token was seen before: expiry and the same revocation view are
  still checked, the signature and the JSON are not. Target >= 30x.
- memory: what a revocation view of 100,000 denied jtis holds, and a full
  verified-token cache of 10,000 tokens (tracemalloc).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import jwt

from jwtwarden import Policy, RevocationView, SystemClock, TokenService, Verifier
from jwtwarden.core.revocation import UserRevocation
from jwtwarden.keysource import EphemeralKeySource, KeyManager
from jwtwarden.passwords import Passwords
from jwtwarden.tokens.access import encode_access_token

ROUNDS = 7
CHEAP_TEST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


def interleaved(fns: dict[str, tuple[Callable[[], object], int]]) -> dict[str, list[float]]:
    """Calls/s of each ``fn`` (``n`` calls a round) over ROUNDS rounds, the
    functions taking turns within each round so that a noisy neighbour
    slows them alike."""
    rates: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(ROUNDS):
        for name, (fn, n) in fns.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            rates[name].append(n / (time.perf_counter() - start))
    return rates


def median_ratio(ours: list[float], base: list[float]) -> float:
    """The median of the per-round ratios."""
    return statistics.median(a / b for a, b in zip(ours, base, strict=True))


def big_view(denied: int = 100_000, users: int = 10_000) -> RevocationView:
    """A view the size bench/core.py uses: denied jtis and user cutoffs."""
    view = RevocationView()
    far = time.time() + 3600
    for _ in range(denied):
        view.deny_jti(secrets.token_urlsafe(16), far)
    for i in range(users):
        view.set_user(f"user-{i}", UserRevocation(time.time()), far)
    return view


def allocated(build: Callable[[], object]) -> tuple[float, object]:
    """MiB that ``build()``'s result holds (tracemalloc), and the result."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / 2**20, result


async def started_service() -> TokenService:
    svc = TokenService(
        _store(),
        KeyManager(EphemeralKeySource(), "EdDSA", 300),
        Policy(access_ttl=300),
        passwords=Passwords(**CHEAP_TEST_ARGON2),
        clock=SystemClock(),
    )
    await svc.start()
    return svc


def _store() -> Any:
    from jwtwarden.stores import open_store

    return open_store("memory://")


def bench_speed(svc: TokenService, token: str, view: RevocationView) -> dict[str, float]:
    key = svc.keys.signing_key()
    issuer, audience = svc.policy.issuer, svc.policy.audience

    def verifier(cache_size: int) -> Verifier:
        return Verifier(
            issuer=issuer, audience=audience, keys=svc.jwks(), view=view, cache_size=cache_size
        )

    cold, warm = verifier(0), verifier(10_000)

    def bare() -> object:
        return jwt.decode(token, key.public, algorithms=["EdDSA"], audience=audience, issuer=issuer)

    assert cold.verify(token).sub == warm.verify(token).sub == bare()["sub"]  # type: ignore[index]
    rates = interleaved(
        {
            "bare": (bare, 2000),
            "cold": (lambda: cold.verify(token), 2000),
            "warm": (lambda: warm.verify(token), 200_000),
        }
    )
    base = rates["bare"]
    return {
        "bare_pyjwt_decode_per_s": statistics.median(base),
        "verify_cold_per_s": statistics.median(rates["cold"]),
        "verify_cold_ratio": median_ratio(rates["cold"], base),
        "verify_warm_per_s": statistics.median(rates["warm"]),
        "verify_warm_ratio": median_ratio(rates["warm"], base),
        "view_entries": float(len(view)),
    }


def bench_memory(svc: TokenService) -> dict[str, float]:
    view_mib, _ = allocated(lambda: big_view(100_000, 0))
    key = svc.keys.signing_key()
    now = int(time.time())
    claims = {
        "iss": svc.policy.issuer,
        "aud": svc.policy.audience,
        "sub": "7f8a3c52-4b8e-4d2f-9a1e-0c6b5e2d1f00",
        "sid": secrets.token_urlsafe(16),
        "iat": now,
        "auth_time": now,
        "exp": now + 300,
        "roles": ["user"],
        "client_id": "jwtwarden",
    }
    tokens = [
        encode_access_token({**claims, "jti": secrets.token_urlsafe(16)}, key)
        for _ in range(10_000)
    ]
    verifier = Verifier(
        issuer=svc.policy.issuer, audience=svc.policy.audience, keys=svc.jwks(), cache_size=10_000
    )

    def fill() -> Verifier:
        for token in tokens:
            verifier.verify(token)
        return verifier

    cache_mib, _ = allocated(fill)
    return {
        "view_100k_denied_jtis_mib": view_mib,
        "view_bytes_per_entry": view_mib * 2**20 / 100_000,
        "token_cache_10k_mib": cache_mib,
    }


async def main() -> None:
    svc = await started_service()
    await svc.create_user("alice", "correct horse")
    token = (await svc.login("alice", "correct horse")).access_token
    results = bench_speed(svc, token, big_view())
    results.update(bench_memory(svc))
    await svc.close()
    width = max(map(len, results))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, medians of {ROUNDS} rounds")
    for name, value in results.items():
        print(f"{name.ljust(width)}  {value:,.2f}")


if __name__ == "__main__":
    asyncio.run(main())
