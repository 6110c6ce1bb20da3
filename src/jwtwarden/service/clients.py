"""Resource-server clients: their credentials, and token introspection
(RFC 7662) on their behalf."""

from __future__ import annotations

import math
import re
import secrets
from typing import Any

from ..core import inputs
from ..core.clients import Client, hash_client_secret, is_client_secret
from ..core.rotation import Rotated
from ..errors import InvalidClientError, InvalidRequestError, InvalidTokenError, StoreConflictError
from ..tokens.access import AccessClaims
from ..tokens.refresh import parse_refresh_token
from .base import ServiceBase

__all__ = ["Clients"]

_CLIENT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
#: Compared against when a client id is unknown, so both paths do the same work.
_NO_CLIENT_HASH = hash_client_secret(secrets.token_urlsafe(32))


class Clients(ServiceBase):
    """The resource-server part of :class:`~jwtwarden.service.TokenService`."""

    async def create_client(self, name: str) -> tuple[Client, str]:
        """New resource-server credentials; the secret is returned once and
        only its hash is stored."""
        if not isinstance(name, str) or not _CLIENT_NAME.fullmatch(name):
            raise InvalidRequestError("A client name is 1-100 letters, digits and _.:- characters.")
        secret = secrets.token_urlsafe(32)
        client = Client(
            "rs_" + secrets.token_urlsafe(12), name, hash_client_secret(secret), self.clock.now()
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
