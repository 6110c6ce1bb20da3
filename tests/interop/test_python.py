"""Python verifiers, unchanged and with their defaults, against a real
server's default tokens: Authlib's RFC 9068 ``JWTBearerTokenValidator``,
joserfc, and PyJWT with ``PyJWKClient``. Each accepts a fresh token and
rejects it tampered with, re-signed badly, or expired.

Where a library's defaults cannot take an algorithm at all, the test says
so with a strict ``xfail`` naming the reason (so a library that changes its
mind turns it into a failure to look at), and the documented opt-in it
needs is tested beside it:

- joserfc allows only its "recommended" algorithms unless told otherwise:
  HS256, RS256, ES256. Neither ``Ed25519`` nor ``EdDSA`` is; both verify
  with ``algorithms=`` taken from the server's metadata
  (``access_token_signing_alg_values_supported``), ``EdDSA`` with joserfc's
  RFC 9864 deprecation warning. Authlib's RFC 9068 validator calls joserfc
  without ``algorithms=``, so with Authlib an Ed25519 server is not an
  option: such resource servers want ``JWTWARDEN_ALGORITHM=ES256``.
- PyJWT (2.15) knows Ed25519 only by its legacy name ``EdDSA``; its
  ``PyJWKClient`` refuses a JWKS key with ``alg: Ed25519``.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import jwt
import pytest
from authlib.oauth2.rfc6750.errors import InvalidTokenError as AuthlibInvalidToken
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc import jwk as jose_jwk
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError, SecurityWarning, UnsupportedAlgorithmError

from .conftest import ALGORITHMS, Server, resigned_garbage, tampered

#: Algorithms each library's defaults accept (see the module docstring).
DEFAULTS_ACCEPT = {
    "authlib": {"ES256", "RS256"},
    "joserfc": {"ES256", "RS256"},
    "pyjwt": {"EdDSA", "ES256", "RS256"},
}
#: What each refuses an algorithm with: the reason, not any failure.
RAISES: dict[str, type[Exception]] = {
    "authlib": AuthlibInvalidToken,
    "joserfc": UnsupportedAlgorithmError,
    "pyjwt": jwt.PyJWKSetError,
}
REASONS = {
    "authlib": "Authlib's RFC 9068 validator decodes with joserfc's defaults, which allow "
    "only HS256, RS256 and ES256 ('not recommended')",
    "joserfc": "joserfc's defaults allow only its recommended algorithms: HS256, RS256, ES256",
    "pyjwt": "PyJWT knows Ed25519 only as EdDSA; PyJWKClient refuses a key with alg Ed25519",
}


def per_library(library: str) -> list[Any]:
    return [
        pytest.param(
            alg,
            marks=()
            if alg in DEFAULTS_ACCEPT[library]
            else pytest.mark.xfail(strict=True, reason=REASONS[library], raises=RAISES[library]),
            id=alg,
        )
        for alg in ALGORITHMS
    ]


# -- Authlib (RFC 9068 resource protector) -----------------------------------


class ServerJwks(JWTBearerTokenValidator):  # type: ignore[misc]
    """The one method Authlib asks a resource server to write: the JWKS,
    from the ``jwks_uri`` of the server's metadata (its docstring's recipe)."""

    def __init__(self, server: Server) -> None:
        super().__init__(issuer=server.issuer, resource_server="jwtwarden")
        self.jwks_uri = server.jwks_uri

    def get_jwks(self) -> jose_jwk.KeySet:
        # A joserfc KeySet: Authlib deprecates returning the JSON itself.
        return jose_jwk.KeySet.import_key_set(httpx.get(self.jwks_uri).json())


def authlib_verify(server: Server, token: str) -> dict[str, Any]:
    validator = ServerJwks(server)
    claims = validator.authenticate_token(token)
    validator.validate_token(claims, scopes=None, request=None)
    return dict(claims)


@pytest.fixture
def alg_server(servers: dict[str, Server], request: pytest.FixtureRequest) -> Server:
    return servers[request.param]


@pytest.mark.parametrize("alg", per_library("authlib"))
def test_authlib_rfc9068_validator(servers: dict[str, Server], alg: str) -> None:
    server = servers[alg]
    claims = authlib_verify(server, server.token())
    assert claims["iss"] == server.issuer and claims["sub"]
    for bad in (tampered(server.token()), resigned_garbage(server.token()), server.expired):
        with pytest.raises(AuthlibInvalidToken):
            authlib_verify(server, bad)


# -- joserfc -----------------------------------------------------------------


def joserfc_verify(server: Server, token: str, **options: Any) -> dict[str, Any]:
    keys = jose_jwk.KeySet.import_key_set(httpx.get(server.jwks_uri).json())
    decoded = jose_jwt.decode(token, keys, **options)
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": server.issuer},
        aud={"essential": True, "value": "jwtwarden"},
        exp={"essential": True},
        iat={"essential": True},
    )
    registry.validate(decoded.claims)
    return dict(decoded.claims)


def assert_joserfc_rejects_the_bad_ones(server: Server, **options: Any) -> None:
    for bad in (tampered(server.token()), resigned_garbage(server.token()), server.expired):
        with pytest.raises(JoseError):
            joserfc_verify(server, bad, **options)


@pytest.mark.parametrize("alg", per_library("joserfc"))
def test_joserfc_with_its_defaults(servers: dict[str, Server], alg: str) -> None:
    server = servers[alg]
    assert joserfc_verify(server, server.token())["sub"]
    assert_joserfc_rejects_the_bad_ones(server)


def test_joserfc_takes_ed25519_with_the_algorithms_the_metadata_names(
    servers: dict[str, Server],
) -> None:
    server = servers["Ed25519"]
    algorithms = server.metadata["access_token_signing_alg_values_supported"]
    assert algorithms == ["Ed25519"]
    assert joserfc_verify(server, server.token(), algorithms=algorithms)["sub"]
    assert_joserfc_rejects_the_bad_ones(server, algorithms=algorithms)


def test_joserfc_takes_the_legacy_eddsa_name_with_its_deprecation_warning(
    servers: dict[str, Server],
) -> None:
    server = servers["EdDSA"]
    algorithms = server.metadata["access_token_signing_alg_values_supported"]
    assert algorithms == ["EdDSA"]
    with pytest.warns(SecurityWarning, match="RFC 9864"):
        assert joserfc_verify(server, server.token(), algorithms=algorithms)["sub"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        assert_joserfc_rejects_the_bad_ones(server, algorithms=algorithms)


# -- PyJWT with PyJWKClient --------------------------------------------------


def pyjwt_verify(server: Server, token: str) -> dict[str, Any]:
    client = jwt.PyJWKClient(server.jwks_uri)
    key = client.get_signing_key_from_jwt(token)
    return dict(
        jwt.decode(
            token,
            key.key,
            # PyJWT has no default: the documented way is to name them.
            algorithms=server.metadata["access_token_signing_alg_values_supported"],
            audience="jwtwarden",
            issuer=server.issuer,
        )
    )


@pytest.mark.parametrize("alg", per_library("pyjwt"))
def test_pyjwt_with_pyjwkclient(servers: dict[str, Server], alg: str) -> None:
    server = servers[alg]
    assert pyjwt_verify(server, server.token())["sub"]
    for bad in (tampered(server.token()), resigned_garbage(server.token())):
        with pytest.raises(jwt.InvalidSignatureError):
            pyjwt_verify(server, bad)
    with pytest.raises(jwt.ExpiredSignatureError):
        pyjwt_verify(server, server.expired)


# -- The server side of the contract ----------------------------------------


def test_every_server_publishes_one_name_everywhere(servers: dict[str, Server]) -> None:
    for alg, server in servers.items():
        keys = httpx.get(server.jwks_uri).json()["keys"]
        assert [key["alg"] for key in keys] == [alg]
        assert server.metadata["access_token_signing_alg_values_supported"] == [alg]
        assert server.metadata["jwtwarden_revocations_endpoint"] == server.url + "/revocations"
        header = jwt.get_unverified_header(server.token())
        assert header["alg"] == alg and header["typ"] == "at+jwt"
        claims = jwt.decode(server.token(), options={"verify_signature": False})
        assert all(type(claims[name]) is int for name in ("iat", "exp", "auth_time"))
