"""DPoP benchmark: refreshes/s with a DPoP proof against without, as a
ratio measured in the same run, in process, on the memory and SQLite
stores. Run: ``python bench/dpop.py`` (about half a minute).

A DPoP refresh is what the token endpoint does with one: check the proof
(``TokenService.check_dpop_proof``: parse, an ES256 signature, the claims,
and ``remember_once`` of its ``jti`` in the store), then the bound refresh.
The proofs are signed beforehand, outside the timed part: signing is the
client's work. Plain and DPoP rounds alternate, and each figure is the
median of the rounds (this machine is shared and noisy).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from jwtwarden import Policy, SystemClock, TokenService
from jwtwarden.keysource import EphemeralKeySource, FileKeySource, KeyManager
from jwtwarden.passwords import Passwords
from jwtwarden.stores import open_store
from jwtwarden.tokens.jwks import public_jwk

ROUNDS = 7
N = 1000
URI = "http://127.0.0.1:8000/token"
CHEAP_TEST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


class Client:
    """A DPoP client: an ES256 key and its proofs for the token endpoint."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.header = {"typ": "dpop+jwt", "jwk": public_jwk(self.private.public_key())}

    def proofs(self, n: int) -> list[str]:
        now = int(time.time())
        return [
            jwt.encode(
                {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": URI, "iat": now},
                self.private,
                algorithm="ES256",
                headers=self.header,
            )
            for _ in range(n)
        ]


async def service_on(url: str, tmp: Path) -> TokenService:
    source = EphemeralKeySource() if url == "memory://" else FileKeySource(tmp / "keys")
    svc = TokenService(
        open_store(url),
        KeyManager(source, "EdDSA", 300),
        Policy(access_ttl=300),
        passwords=Passwords(**CHEAP_TEST_ARGON2),
        clock=SystemClock(),
    )
    await svc.start()
    await svc.create_user("alice", "correct horse")
    return svc


async def bench_store(kind: str, url: str, tmp: Path) -> dict[str, float]:
    svc = await service_on(url, tmp)
    client = Client()
    plain_rt = (await svc.login("alice", "correct horse")).refresh_token
    first = await svc.check_dpop_proof(client.proofs(1)[0], method="POST", uri=URI)
    bound_rt = (await svc.login("alice", "correct horse", dpop=first)).refresh_token
    plain_rates, dpop_rates = [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(N):
            plain_rt = (await svc.refresh(plain_rt)).refresh_token
        plain_rates.append(N / (time.perf_counter() - start))

        proofs = client.proofs(N)
        start = time.perf_counter()
        for proof in proofs:
            checked = await svc.check_dpop_proof(proof, method="POST", uri=URI)
            pair = await svc.refresh(bound_rt, dpop=checked)
            bound_rt = pair.refresh_token
        dpop_rates.append(N / (time.perf_counter() - start))
    assert pair.token_type == "DPoP"
    await svc.close()
    plain, dpop = statistics.median(plain_rates), statistics.median(dpop_rates)
    return {
        f"refresh_{kind}_per_s": plain,
        f"refresh_{kind}_dpop_per_s": dpop,
        f"refresh_{kind}_dpop_ratio": dpop / plain,
    }


async def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        results: dict[str, float] = {}
        for kind, url in (("memory", "memory://"), ("sqlite", f"sqlite:///{tmp / 'bench.db'}")):
            results.update(await bench_store(kind, url, tmp))
        return results


if __name__ == "__main__":
    out = asyncio.run(main())
    json.dump({k: round(v, 3) for k, v in out.items()}, sys.stdout, indent=2)
    print()
