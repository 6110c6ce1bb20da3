"""Real tokens for the verifier tests: minted by a TokenService on a frozen
clock, verified by a Verifier on the same clock."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest

from jwtwarden import FrozenClock, RevocationView, TokenService, Verifier
from tests.conftest import ServiceFactory

PASSWORD = "correct horse battery"
ISSUER = "https://auth.example.test"


@dataclass
class Minted:
    """A service, a verifier on its keys and view, and tokens of two users."""

    service: TokenService
    verifier: Verifier
    view: RevocationView
    clock: FrozenClock
    #: alice: roles ("user",)
    alice: str
    #: root: roles ("admin",)
    root: str
    #: Signed by a key the verifier does not know.
    foreign: str

    def forged(self) -> str:
        """alice's token with ``roles: ["admin"]`` written into its payload."""
        header, payload, signature = self.alice.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["roles"] = ["admin"]
        raw = json.dumps(claims, separators=(",", ":")).encode()
        return f"{header}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{signature}"

    def deny(self, token: str) -> None:
        """Put ``token``'s jti in the view, as the revocation feed would."""
        claims = self.verifier.verify(token)
        self.view.deny_jti(claims.jti, claims.exp)

    def expire(self) -> None:
        """Move past every token's expiry."""
        self.clock.advance(self.service.policy.access_ttl + 1)


async def mint(make_service: ServiceFactory, clock: FrozenClock, **verifier: object) -> Minted:
    service = await make_service(issuer=ISSUER)
    await service.create_user("alice", PASSWORD, roles=["user"])
    await service.create_user("root", PASSWORD, roles=["admin"])
    alice = (await service.login("alice", PASSWORD)).access_token
    root = (await service.login("root", PASSWORD)).access_token
    other = await make_service(issuer=ISSUER)
    await other.create_user("alice", PASSWORD, roles=["user"])
    foreign = (await other.login("alice", PASSWORD)).access_token
    view = RevocationView()
    options: dict[str, object] = {"keys": service.jwks(), **verifier}
    v = Verifier(
        issuer=ISSUER,
        audience=service.policy.audience,
        view=view,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
    return Minted(service, v, view, clock, alice, root, foreign)


@pytest.fixture
async def minted(make_service: ServiceFactory, clock: FrozenClock) -> Minted:
    return await mint(make_service, clock)
