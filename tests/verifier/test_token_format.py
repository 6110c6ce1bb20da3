"""The access-token format: whole-second NumericDates that every standard
validator takes, and a cutoff that still divides two logins of one second.

A cutoff at instant T kills every session that began strictly before T and
none that began at or after it. ``auth_time`` is now a whole second, so two
logins in the second of T share it; the exact instant travels in the private
``jwtwarden_auth_time`` claim, and both the server's own check
(``TokenService.verify``) and a resource server's ``Verifier`` judge by it.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest

from jwtwarden import (
    BadSignatureError,
    ClaimsError,
    FrozenClock,
    RevocationView,
    UserCutoffError,
    Verifier,
)
from jwtwarden.core.revocation import UserRevocation
from jwtwarden.tokens.access import EXACT_AUTH_TIME
from tests.conftest import ServiceFactory

from .conftest import ISSUER, PASSWORD

#: A fractional instant: logins at T0 + 0.25 and T0 + 0.75 share a second.
T0 = 1_800_000_000.0


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def resign(token: str, claims: dict[str, Any], key: Any) -> str:
    from jwtwarden.tokens.access import encode_access_token

    del token
    return encode_access_token(claims, key)


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519", "ES256", "RS256", "HS256"])
async def test_every_numeric_date_is_a_whole_second(
    make_service: ServiceFactory, clock: FrozenClock, alg: str
) -> None:
    clock.set(T0 + 0.123456)
    service = await make_service(issuer=ISSUER, algorithm=alg)
    await service.create_user("alice", PASSWORD)
    clock.advance(0.5)
    token = (await service.login("alice", PASSWORD)).access_token
    claims = payload(token)
    for name in ("iat", "exp", "auth_time"):
        assert type(claims[name]) is int, name
    assert claims["auth_time"] <= claims["iat"] <= clock.now()
    assert claims[EXACT_AUTH_TIME] == clock.now()  # the session's own float
    assert math.floor(claims[EXACT_AUTH_TIME]) == claims["auth_time"]
    assert "nbf" not in claims  # none is sent; iat says it all


async def test_no_roles_means_no_roles_claim(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    """An empty ``roles`` list is a blank claim to Authlib's RFC 9068
    validator, which refuses the token; an absent one is no role."""
    service = await make_service(issuer=ISSUER)
    await service.create_user("nobody", PASSWORD, roles=[])
    await service.create_user("admin", PASSWORD, roles=["admin"])
    token = (await service.login("nobody", PASSWORD)).access_token
    assert "roles" not in payload(token)
    assert payload((await service.login("admin", PASSWORD)).access_token)["roles"] == ["admin"]
    verifier = Verifier(issuer=ISSUER, audience="jwtwarden", keys=service.jwks(), clock=clock)
    assert verifier.verify(token).roles == ()


async def test_the_token_header_and_jwks_carry_the_configured_name(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    for alg in ("Ed25519", "EdDSA"):
        service = await make_service(issuer=ISSUER, algorithm=alg)
        await service.create_user(f"u-{alg}", PASSWORD)
        token = (await service.login(f"u-{alg}", PASSWORD)).access_token
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["alg"] == alg
        [jwk] = service.jwks()["keys"]
        assert (jwk["alg"], jwk["kty"], jwk["crv"]) == (alg, "OKP", "Ed25519")
        verifier = Verifier(issuer=ISSUER, audience="jwtwarden", keys=service.jwks(), clock=clock)
        assert verifier.verify(token).sub


async def test_a_name_is_bound_to_its_key_exactly(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    """The RFC 9864 and legacy names are one algorithm, yet a token may not
    relabel its key: the header must say what the key says (RFC 8725 §3.1)."""
    service = await make_service(issuer=ISSUER, algorithm="Ed25519")
    await service.create_user("alice", PASSWORD)
    token = (await service.login("alice", PASSWORD)).access_token
    header, body, signature = token.split(".")
    relabelled = base64.urlsafe_b64encode(
        json.dumps({**json.loads(base64.urlsafe_b64decode(header + "==")), "alg": "EdDSA"})
        .encode()
        .rstrip()
    )
    forged = f"{relabelled.decode().rstrip('=')}.{body}.{signature}"
    verifier = Verifier(issuer=ISSUER, audience="jwtwarden", keys=service.jwks(), clock=clock)
    assert verifier.verify(token).sub
    with pytest.raises(BadSignatureError, match="does not match its key"):
        verifier.verify(forged)


async def _two_logins_in_one_second(
    make_service: ServiceFactory, clock: FrozenClock
) -> tuple[Any, str, str, float]:
    """alice logs in at T0+0.25 and T0+0.75; the cutoff is at T0+0.5."""
    service = await make_service(issuer=ISSUER)
    clock.set(T0)
    await service.create_user("alice", PASSWORD)
    clock.set(T0 + 0.25)
    before = (await service.login("alice", PASSWORD)).access_token
    clock.set(T0 + 0.5)
    sub = (await service.verify(before)).sub
    await service.revoke_user(sub)
    cutoff = clock.now()
    clock.set(T0 + 0.75)
    after = (await service.login("alice", PASSWORD)).access_token
    assert payload(before)["auth_time"] == payload(after)["auth_time"] == int(T0)
    return service, before, after, cutoff


async def test_a_cutoff_divides_one_second_on_the_server(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    service, before, after, _ = await _two_logins_in_one_second(make_service, clock)
    with pytest.raises(UserCutoffError):
        await service.verify(before)
    assert (await service.verify(after)).auth_time == T0 + 0.75


async def test_a_cutoff_divides_one_second_at_a_resource_server(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    service, before, after, cutoff = await _two_logins_in_one_second(make_service, clock)
    view = RevocationView()
    view.load(await service.revocation_snapshot())
    verifier = Verifier(
        issuer=ISSUER, audience="jwtwarden", keys=service.jwks(), view=view, clock=clock
    )
    with pytest.raises(UserCutoffError):
        verifier.verify(before)
    assert verifier.verify(after).auth_time == T0 + 0.75
    # The same rule whatever the sub-second distance on either side.
    for delta, dies in ((1e-6, True), (0.0, False), (-1e-6, False)):
        view.set_user(payload(after)["sub"], UserRevocation(cutoff), T0 + 600)
        claims = verifier.verify(after)
        view.set_user(claims.sub, UserRevocation(claims.auth_time + delta), T0 + 600)
        if dies:
            with pytest.raises(UserCutoffError):
                verifier.verify(after)
        else:
            assert verifier.verify(after).sub == claims.sub


async def test_the_exact_instant_must_fall_in_the_second_auth_time_names(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    clock.set(T0 + 0.5)
    service = await make_service(issuer=ISSUER)
    await service.create_user("alice", PASSWORD)
    claims = payload((await service.login("alice", PASSWORD)).access_token)
    key = service.keys.signing_key()
    verifier = Verifier(issuer=ISSUER, audience="jwtwarden", keys=service.jwks(), clock=clock)
    for bad in (T0 + 1.5, T0 - 0.5, "soon", None, float("nan")):
        token = resign("", {**claims, EXACT_AUTH_TIME: bad}, key)
        with pytest.raises(ClaimsError):
            verifier.verify(token)


async def test_a_token_without_the_exact_instant_is_judged_by_auth_time(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    """Tokens minted before this format (a fractional ``auth_time``, no
    private claim) keep their exact rule; a whole-second one without it is
    judged by its second, which errs towards revoking."""
    clock.set(T0 + 0.5)
    service = await make_service(issuer=ISSUER)
    await service.create_user("alice", PASSWORD)
    claims = payload((await service.login("alice", PASSWORD)).access_token)
    del claims[EXACT_AUTH_TIME]
    key = service.keys.signing_key()
    legacy = resign("", {**claims, "iat": T0 + 0.5, "auth_time": T0 + 0.5}, key)
    whole = resign("", claims, key)
    view = RevocationView()
    verifier = Verifier(
        issuer=ISSUER, audience="jwtwarden", keys=service.jwks(), view=view, clock=clock
    )
    assert verifier.verify(legacy).auth_time == T0 + 0.5
    view.set_user(claims["sub"], UserRevocation(T0 + 0.25), T0 + 600)
    assert verifier.verify(legacy).sub
    with pytest.raises(UserCutoffError):
        verifier.verify(whole)
