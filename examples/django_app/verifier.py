"""The example's one Verifier: keys from the issuer's JWKS, fetched on
first use (building it does no IO)."""

from __future__ import annotations

import os

from jwtwarden import Verifier

_issuer = os.environ.get("JWTWARDEN_ISSUER", "http://127.0.0.1:8000")

verifier = Verifier(
    issuer=_issuer,
    audience=os.environ.get("JWTWARDEN_AUDIENCE", "jwtwarden"),
    jwks_url=f"{_issuer}/.well-known/jwks.json",
)
