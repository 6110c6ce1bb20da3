"""The RFC endpoints: token (RFC 6749), revocation (RFC 7009),
introspection (RFC 7662), server metadata (RFC 8414) and JWKS."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import InvalidClientError, RefreshTokenReusedError, UnsupportedGrantTypeError
from ...service import TokenPair
from ...tokens.dpop import ALGORITHMS as DPOP_ALGORITHMS
from ...tokens.dpop import Proof
from ..requests import authorization, read_form, require
from .context import context, revokes
from .dpop import request_proof, sends_dpop_nonce

__all__ = ["introspection", "jwks", "metadata", "revocation", "token"]

_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
#: RFC 7523 §2.1: a registered backend client's signed JWT starts a session.
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRANT_TYPES = ["password", "refresh_token", JWT_BEARER]


@sends_dpop_nonce
async def token(request: Request) -> Response:
    """RFC 6749 §4.3 (password) and §6 (refresh_token); §5.1 / §5.2 bodies.
    A ``DPoP`` proof (RFC 9449 §5) binds the tokens to its key; it is checked
    after the form, before any grant is judged."""
    ctx = context(request)
    form = await read_form(request)
    grant = require(form, "grant_type")
    if grant not in GRANT_TYPES:
        raise UnsupportedGrantTypeError(f"Supported grant types: {', '.join(GRANT_TYPES)}.")
    dpop = await request_proof(request)
    ip, agent = ctx.client_ip(request), request.headers.get("user-agent")
    if grant == "password":
        pair = await ctx.service.login(
            require(form, "username"),
            require(form, "password"),
            ip=ip,
            user_agent=agent,
            client_id=form.get("client_id") or "jwtwarden",
            dpop=dpop,
        )
    elif grant == "refresh_token":
        try:
            pair = await ctx.service.refresh(
                require(form, "refresh_token"), ip=ip, user_agent=agent, dpop=dpop
            )
        except RefreshTokenReusedError:
            await ctx.sync()  # the stolen session's access tokens die here at once
            raise
    else:
        pair = await jwt_bearer_grant(request, form, dpop)
    return JSONResponse(token_response(pair), headers=_NO_STORE)


async def jwt_bearer_grant(
    request: Request, form: dict[str, str], dpop: Proof | None = None
) -> TokenPair:
    """RFC 7523 §2.1: ``assertion`` (the client's signed JWT) and an optional
    ``scope`` (the roles, space-separated). The assertion authenticates the
    client (§2.2 is not needed), so ``client_id`` is ignored."""
    ctx = context(request)
    return await ctx.service.exchange_assertion(
        require(form, "assertion"),
        scope=form.get("scope"),
        ip=ctx.client_ip(request),
        user_agent=request.headers.get("user-agent"),
        dpop=dpop,
    )


def token_response(pair: TokenPair) -> dict[str, object]:
    return {
        "access_token": pair.access_token,
        "token_type": pair.token_type,
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
    }


@revokes
async def revocation(request: Request) -> Response:
    """RFC 7009: 200 whether or not the token was known or already revoked."""
    ctx = context(request)
    form = await read_form(request)
    await ctx.service.revoke_token(require(form, "token"), form.get("token_type_hint"))
    return Response(status_code=200, headers=_NO_STORE)


async def introspection(request: Request) -> Response:
    """RFC 7662, for resource servers authenticated with HTTP Basic."""
    ctx = context(request)
    client_id, secret = basic_credentials(request)
    await ctx.service.authenticate_client(client_id, secret)
    form = await read_form(request)
    body = await ctx.service.introspect(require(form, "token"), form.get("token_type_hint"))
    return JSONResponse(body, headers=_NO_STORE)


def basic_credentials(request: Request) -> tuple[str, str]:
    header = authorization(request) or ""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded or len(encoded) > 1024:
        raise InvalidClientError("Authenticate with HTTP Basic client credentials.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClientError() from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClientError()
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id), unquote(secret)


async def metadata(request: Request) -> Response:
    """RFC 8414 authorization server metadata, plus where access tokens are
    checked: the algorithms they are signed with, under the names the JWKS
    gives them (``Ed25519`` or its legacy name ``EdDSA``, as configured; a
    shared HS256 secret is never advertised), and the revocation feed."""
    service = context(request).service
    issuer = service.policy.issuer.rstrip("/")
    signing = [] if service.policy.algorithm == "HS256" else [service.policy.algorithm]
    algorithms: list[str] = []
    for alg in [*signing, *(key["alg"] for key in service.jwks()["keys"])]:
        if alg not in algorithms:
            algorithms.append(alg)
    return JSONResponse(
        {
            "issuer": context(request).service.policy.issuer,
            "token_endpoint": f"{issuer}/token",
            "revocation_endpoint": f"{issuer}/revoke",
            "introspection_endpoint": f"{issuer}/introspect",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "grant_types_supported": GRANT_TYPES,
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "service_documentation": f"{issuer}/docs",
            # RFC 9068 names no metadata of its own; this is the name servers
            # that publish it use (the draft of RFC 9068 had it too).
            "access_token_signing_alg_values_supported": algorithms,
            # RFC 9449 §5.1: the algorithms DPoP proofs may be signed with.
            "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
            "jwtwarden_revocations_endpoint": f"{issuer}/revocations",
            # The aud of every access token, so a resource server configured
            # for another one finds out at start-up, not at the first request.
            "jwtwarden_access_token_audience": service.policy.audience,
        }
    )


async def jwks(request: Request) -> Response:
    """Every public key that may still verify a live token."""
    return JSONResponse(
        context(request).service.jwks(), headers={"cache-control": "public, max-age=60"}
    )
