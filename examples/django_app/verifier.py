"""The example's one Verifier: the jwtwarden server named by
``JWTWARDEN_ISSUER``, keys from its JWKS, revocations from its feed with
``JWTWARDEN_CLIENT_ID``/``JWTWARDEN_CLIENT_SECRET`` (a start-up error
without them, unless ``JWTWARDEN_REVOCATIONS=off``). Built on import, which
waits for the first snapshot."""

from __future__ import annotations

from jwtwarden import Verifier

verifier = Verifier.from_env()
