"""DPoP proofs at the token endpoint (RFC 9449): checking one once, across
every process on the store, and the server nonces a client may be asked to
put in its proofs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

from ..errors import InvalidDpopProofError
from ..tokens.dpop import Proof, verify_proof
from .base import ServiceBase

__all__ = ["NONCE_WINDOW", "DpopProofs", "dpop_nonce"]

#: Seconds one server nonce is current; the previous one is still accepted,
#: so a nonce lives between one and two windows.
NONCE_WINDOW = 300
#: How old a proof may be (``iat``), and how far in the future (clock skew).
PROOF_MAX_AGE = 60.0
PROOF_LEEWAY = 5.0


def dpop_nonce(mac_secret: bytes, window: int) -> str:
    """The server nonce of time window ``window`` (RFC 9449 §8): an HMAC of
    the window under the server's refresh-token secret, so every process on
    the store issues and accepts the same nonces with no shared state, and
    nobody without the secret can predict the next one. Written by hand:
    no library offers stateless DPoP nonces, and this is one HMAC."""
    digest = hmac.new(
        mac_secret, b"jwtwarden dpop nonce\x00" + str(window).encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


class DpopProofs(ServiceBase):
    """The DPoP part of :class:`~jwtwarden.service.TokenService`."""

    def dpop_nonce(self) -> str:
        """The nonce the server hands out now (the ``DPoP-Nonce`` header)."""
        return dpop_nonce(self.keys.ring.mac_secret, self._nonce_window(self.clock.now()))

    def _nonce_window(self, now: float) -> int:
        return math.floor(now / NONCE_WINDOW)

    async def check_dpop_proof(
        self, proof: str, *, method: str, uri: str, require_nonce: bool = False
    ) -> Proof:
        """Check the ``DPoP`` header ``proof`` of the request ``method uri``
        (RFC 9449 §4.3) and spend its ``jti``: a proof is good for one
        request, whichever process of the store sees it.

        ``require_nonce``: the proof must carry the current or the previous
        server nonce. Raises InvalidDpopProofError (UseDpopNonceError for a
        missing or old nonce); the store is only touched for a proof that
        passed every other check.
        """
        now = self.clock.now()
        nonces = None
        if require_nonce:
            window, secret = self._nonce_window(now), self.keys.ring.mac_secret
            nonces = {dpop_nonce(secret, window), dpop_nonce(secret, window - 1)}
        checked = verify_proof(
            proof,
            method=method,
            uri=uri,
            now=now,
            max_age=PROOF_MAX_AGE,
            leeway=PROOF_LEEWAY,
            nonces=nonces,
        )
        until = checked.replay_until
        if not await self.store.remember_once("dpop", checked.replay_key, now, until):
            self._emit("dpop_replayed", now, jkt=checked.jkt)
            raise InvalidDpopProofError("The DPoP proof was used before (its jti).")
        return checked
