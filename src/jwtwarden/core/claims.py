"""Custom claims: what an application may add to the access tokens of a
session it starts (:meth:`~jwtwarden.service.TokenService.start_session`).

The claims belong to the session, so every access token it mints carries
them, after any number of refreshes. They are checked once, when the session
starts, and kept as one canonical JSON text (the form every store holds).

- **names**: at most :data:`MAX_CLAIMS`, each 1-64 printable ASCII
  characters; the registered and jwtwarden-owned names of
  :data:`RESERVED_CLAIMS` and every name starting with ``jwtwarden``
  (private claims such as ``jwtwarden_auth_time``) are refused, so a custom
  claim can never change who a token speaks for, how long it lives or what
  it may do;
- **values**: JSON (strings, finite numbers, booleans, null, lists and
  objects), nested at most :data:`MAX_DEPTH` deep;
- **size**: at most :data:`MAX_CLAIMS_BYTES` bytes of compact JSON, so an
  access token stays well below the verifiers' 8 KiB limit.

Anything else is an InvalidRequestError naming the rule, and nothing is
created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError

__all__ = [
    "MAX_CLAIMS",
    "MAX_CLAIMS_BYTES",
    "MAX_DEPTH",
    "RESERVED_CLAIMS",
    "custom_claims",
    "load_claims",
]

#: Names a custom claim may not take: RFC 7519 §4.1, RFC 9068 §2.2 and the
#: ones jwtwarden sets or judges by (``sid``, ``roles``, ``client_id``, the
#: DPoP ``cnf``), plus ``scope`` and ``act`` (RFC 8693), which resource
#: servers read as grants.
RESERVED_CLAIMS = frozenset(
    {
        "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "auth_time",
        "roles", "client_id", "cnf", "typ", "scope", "act",
    }
)  # fmt: skip
#: The prefix of jwtwarden's private claims (``jwtwarden_auth_time``).
PRIVATE_PREFIX = "jwtwarden"
MAX_CLAIMS = 32
MAX_CLAIMS_BYTES = 2048
MAX_DEPTH = 4
_NAME = re.compile(r"[!-~]{1,64}")


def custom_claims(claims: Mapping[str, object] | None) -> str | None:
    """The canonical JSON text of ``claims`` if they are acceptable (see the
    module's rules), ``None`` for none at all. Raises InvalidRequestError."""
    if claims is None or (isinstance(claims, Mapping) and not claims):
        return None
    if not isinstance(claims, Mapping):
        raise InvalidRequestError("Custom claims are a mapping of names to JSON values.")
    if len(claims) > MAX_CLAIMS:
        raise InvalidRequestError(f"At most {MAX_CLAIMS} custom claims.")
    for name, value in claims.items():
        _check_name(name)
        _check_value(value, 1)
    text = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True, allow_nan=False)
    if len(text.encode()) > MAX_CLAIMS_BYTES:
        raise InvalidRequestError(f"Custom claims are at most {MAX_CLAIMS_BYTES} bytes of JSON.")
    return text


def load_claims(text: str | None) -> dict[str, Any]:
    """The claims kept by :func:`custom_claims` (empty for ``None``)."""
    return {} if not text else dict(json.loads(text))


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequestError("A custom claim name is 1-64 printable ASCII characters.")
    if name in RESERVED_CLAIMS or name.lower().startswith(PRIVATE_PREFIX):
        raise InvalidRequestError(f"The claim {name!r} is reserved and set by jwtwarden.")


def _check_value(value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidRequestError(f"Custom claims nest at most {MAX_DEPTH} deep.")
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidRequestError("A custom claim number must be finite.")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(item, depth + 1)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequestError("Custom claim objects have string keys.")
            _check_value(item, depth + 1)
        return
    raise InvalidRequestError("A custom claim value is JSON: text, number, bool, list, object.")
