"""JWT-bearer assertions (RFC 7523 §3): what a registered client's signed
JWT must say to start a session for one of its users.

The signature is checked by :func:`~jwtwarden.tokens.access.verify_signed`
against the client's registered keys; here, the claims, with ``now``
passed in:

- ``iss`` is the client's id (§3 item 1);
- ``sub`` is the application's user id, 1-128 printable ASCII (item 2);
- ``aud`` names this server: its issuer or its token endpoint URL (item 3);
- ``exp`` is present, not passed, and at most :data:`MAX_ASSERTION_LIFETIME`
  ahead (item 4: an assertion is a one-shot credential, so a long-lived one
  is refused rather than kept in the replay cache for hours);
- ``iat`` and ``nbf``, when present, are not in the future, and ``iat`` is
  not older than that lifetime (items 5, 6);
- ``jti`` is present, 1-256 printable ASCII (item 7): the caller remembers
  it until ``exp`` and refuses it ever after.

Each refusal is an InvalidGrantError naming the claim, and never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..core import inputs
from ..errors import InvalidGrantError

__all__ = ["MAX_ASSERTION_LIFETIME", "Assertion", "check_assertion"]

#: The longest an assertion may still be valid when it arrives, in seconds.
MAX_ASSERTION_LIFETIME = 300
_JTI = re.compile(r"[!-~]{1,256}")


@dataclass(frozen=True, slots=True)
class Assertion:
    """The claims of an accepted assertion."""

    client_id: str
    sub: str
    jti: str
    exp: float


def check_assertion(
    payload: dict[str, Any],
    *,
    client_id: str,
    audiences: Collection[str],
    now: float,
    leeway: float = 0.0,
    max_lifetime: float = MAX_ASSERTION_LIFETIME,
) -> Assertion:
    """The assertion ``payload`` if its claims are acceptable at ``now``
    for ``client_id``; InvalidGrantError otherwise."""
    if payload.get("iss") != client_id:
        raise InvalidGrantError("The assertion's iss is not the client.")
    sub, jti = payload.get("sub"), payload.get("jti")
    if not inputs.is_sub(sub):
        raise InvalidGrantError("The assertion needs a sub of 1-128 printable ASCII characters.")
    if not isinstance(jti, str) or not _JTI.fullmatch(jti):
        raise InvalidGrantError("The assertion needs a jti of 1-256 printable ASCII characters.")
    aud = payload.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in audiences for a in named):
        raise InvalidGrantError("The assertion's aud is not this server.")
    exp = _time(payload, "exp", required=True)
    assert exp is not None
    if now >= exp + leeway:
        raise InvalidGrantError("The assertion has expired.")
    if exp > now + max_lifetime + leeway:
        raise InvalidGrantError(
            f"The assertion lives too long: exp at most {int(max_lifetime)} s ahead."
        )
    iat, nbf = _time(payload, "iat"), _time(payload, "nbf")
    if iat is not None and (iat > now + leeway or iat < now - max_lifetime - leeway):
        raise InvalidGrantError("The assertion's iat is in the future or too old.")
    if nbf is not None and nbf > now + leeway:
        raise InvalidGrantError("The assertion is not valid yet (nbf).")
    return Assertion(client_id, sub, jti, exp)  # type: ignore[arg-type]


def _time(payload: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    # A NumericDate (RFC 7519 §2), bounded so that neither NaN, infinity nor
    # a huge integer reaches a comparison.
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1e12:
        raise InvalidGrantError(f"The assertion lacks a valid {name!r} claim.")
    return float(value)
