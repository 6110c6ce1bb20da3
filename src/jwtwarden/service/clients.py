"""Registered clients: their credentials, token introspection (RFC 7662)
on their behalf, and the JWT-bearer assertions (RFC 7523) of those that
start sessions."""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Iterable
from typing import Any

from ..core import inputs
from ..core.clients import Client, derived_client_secret, hash_client_secret, is_client_secret
from ..core.rotation import Rotated
from ..core.users import validate_roles
from ..errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidTokenError,
    StoreConflictError,
)
from ..tokens.access import AccessClaims, read_payload, verify_signed
from ..tokens.assertion import Assertion, check_assertion
from ..tokens.jwks import VerifyingKey, parse_jwks, registered_jwks
from ..tokens.refresh import parse_refresh_token
from .base import ServiceBase

__all__ = ["Clients"]

_CLIENT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
#: Compared against when a client id is unknown, so both paths do the same work.
_NO_CLIENT_HASH = hash_client_secret(secrets.token_urlsafe(32))


class Clients(ServiceBase):
    """The resource-server part of :class:`~jwtwarden.service.TokenService`."""

    async def create_client(
        self,
        name: str,
        *,
        issues_sessions: bool = False,
        session_roles: Iterable[str] = (),
        jwks: object = None,
        require_dpop: bool = False,
    ) -> tuple[Client, str]:
        """New client credentials; the secret is returned once and only its
        hash is stored.

        Every client may introspect tokens and follow the revocation feed.
        ``issues_sessions`` also lets it start sessions for its own users
        with the JWT-bearer grant (RFC 7523), carrying at most
        ``session_roles``; it signs its assertions with a key of ``jwks``
        (a JWK Set or one JWK, public keys only: ``registered_jwks``) or,
        without one, with its secret (HS256; the secret is then derived
        from the server's secret, ``derived_client_secret``, so it need not
        be stored). ``require_dpop``: the sessions it starts (or that a
        public client naming it as ``client_id`` starts) must be DPoP-bound
        (RFC 9449). Raises InvalidRequestError for a bad name, role or key
        and StoreConflictError for a taken name.
        """
        if not isinstance(name, str) or not _CLIENT_NAME.fullmatch(name):
            raise InvalidRequestError("A client name is 1-100 letters, digits and _.:- characters.")
        roles = validate_roles(session_roles)
        if not issues_sessions and (roles or jwks is not None):
            raise InvalidRequestError("Roles and keys are for clients that issue sessions.")
        keys = None if jwks is None else registered_jwks(jwks)
        client_id = "rs_" + secrets.token_urlsafe(12)
        if issues_sessions and keys is None:
            secret = derived_client_secret(self.keys.ring.mac_secret, client_id)
        else:
            secret = secrets.token_urlsafe(32)
        client = Client(
            client_id,
            name,
            hash_client_secret(secret),
            self.clock.now(),
            issues_sessions,
            roles,
            keys,
            require_dpop,
        )
        try:
            await self.store.create_client(client)
        except StoreConflictError as exc:
            raise StoreConflictError("That client name is taken.") from exc
        return client, secret

    async def authenticate_client(self, client_id: str, secret: str) -> Client:
        """The client whose credentials these are; InvalidClientError
        otherwise, after the same work either way."""
        shaped = inputs.is_client_id(client_id) and inputs.is_client_secret_shape(secret)
        client = await self.store.get_client(client_id) if shaped else None
        ok = is_client_secret(
            secret if shaped else "",
            client.secret_hash if client else _NO_CLIENT_HASH,
        )
        if client is None or not ok:
            raise InvalidClientError()
        return client

    async def authenticate_assertion(self, assertion: str, now: float) -> tuple[Client, Assertion]:
        """The client that signed a JWT-bearer assertion and its checked
        claims (``tokens/assertion.py``): InvalidClientError when ``iss``
        names no client that may issue sessions, InvalidGrantError for a
        malformed or badly signed assertion or a refused claim. The
        signature is checked with the client's registered keys, or its
        secret (HS256), and the key's own algorithm only."""
        try:
            issuer = read_payload(assertion).get("iss")
        except InvalidTokenError as exc:
            raise InvalidGrantError("The assertion is not a signed JWT.") from exc
        client = None
        if isinstance(issuer, str) and inputs.is_client_id(issuer):
            client = await self.store.get_client(issuer)
        if client is None or not client.issues_sessions:
            raise InvalidClientError("The assertion's issuer is not a client that issues sessions.")
        try:
            payload = verify_signed(assertion, self._assertion_keys(client))
        except InvalidTokenError as exc:
            raise InvalidGrantError(
                "The assertion's signature is not the client's.",
                detail=f"assertion refused client_id={client.client_id}: {exc.description}",
            ) from exc
        issuer_url = self.policy.issuer.rstrip("/")
        checked = check_assertion(
            payload,
            client_id=client.client_id,
            audiences={self.policy.issuer, issuer_url, f"{issuer_url}/token"},
            now=now,
            leeway=self.policy.leeway,
        )
        return client, checked

    def _assertion_keys(self, client: Client) -> list[VerifyingKey]:
        if client.jwks is None:
            secret = derived_client_secret(self.keys.ring.mac_secret, client.client_id)
            return [VerifyingKey("", "HS256", secret.encode())]
        return parse_jwks(json.loads(client.jwks))

    async def introspect(
        self, token: str, token_type_hint: str | None = None, *, refresh_tokens: bool = False
    ) -> dict[str, Any]:
        """RFC 7662: ``{"active": false}`` for anything unusable, else the
        claims. The hint only orders the search (§2.1: the server MUST extend
        it to the other types), so a wrong hint never hides a live token.

        Refresh tokens are for the authorization server only (RFC 9700
        §4.14): resource servers, the callers of ``POST /introspect``, get
        ``{"active": false}`` for them. ``refresh_tokens=True`` (for the auth
        server's own use) reports them too; introspecting one never counts as
        using it."""
        if refresh_tokens and token_type_hint == "refresh_token":
            found = await self._introspect_refresh(token) or await self._introspect_access(token)
            return found or {"active": False}
        found = await self._introspect_access(token)
        if found is None and refresh_tokens:
            found = await self._introspect_refresh(token)
        return found or {"active": False}

    async def _introspect_access(self, token: str) -> dict[str, Any] | None:
        try:
            return _introspected(await self.verify(token))
        except InvalidTokenError:
            return None

    async def _introspect_refresh(self, token: str) -> dict[str, Any] | None:
        presented = parse_refresh_token(token)
        found = None if presented is None else await self.store.get_session(presented.sid)
        if presented is None or found is None:
            return None
        session, user = found
        decision = self._judge(session, user, presented, self.clock.now())
        if not isinstance(decision, Rotated):
            return None
        return {
            "active": True,
            "token_type": "refresh_token",
            "sub": session.sub,
            "sid": session.sid,
            "client_id": session.client_id,
            "exp": math.floor(session.expires_at),
            # Whole-second NumericDates, as in the access tokens (RFC 7662 §2.2).
            "iat": math.floor(session.rotated_at or session.auth_time),
            "auth_time": math.floor(session.auth_time),
            "iss": self.policy.issuer,
        }


def _introspected(claims: AccessClaims) -> dict[str, Any]:
    return {"active": True, "token_type": "access_token", **claims.raw}
