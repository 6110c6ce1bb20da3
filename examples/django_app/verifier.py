"""The example's one Verifier: the jwtwarden server named by
``JWTWARDEN_ISSUER``, keys from its JWKS (fetched on first use), revocations
from its feed when ``JWTWARDEN_CLIENT_ID``/``JWTWARDEN_CLIENT_SECRET`` are set."""

from __future__ import annotations

from jwtwarden import Verifier

verifier = Verifier.from_env()
