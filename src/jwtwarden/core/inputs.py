"""The input policy: one rule for every identifier, credential and free-text
field that comes from outside, checked before any store sees the value.

Each field has one rule for length, NUL, other control characters and
Unicode normalisation, and the service applies it on every path (HTTP
form and JSON endpoints, path parameters, HTTP Basic credentials and the
CLI all reach the same service method), so the same bad input gets the
same answer everywhere and on every store. Without it, a NUL byte was a
``400`` on SQLite and Redis but a ``503`` on PostgreSQL, whose text columns
cannot hold NUL, and a password with NUL was taken by one endpoint and
refused by another.

Per field: length; characters refused; normalisation; the answer to a bad
value.

- **username**: 1-150; anything not printable (Cc, Cf, Cs, Co, Cn, Zl, Zp
  and every space but U+0020) and outer spaces; kept as typed, matched by
  NFKC + case fold; ``invalid_request``.
- **password**: 8-1024 when set, 1-1024 when presented; Cc (NUL, CR, LF,
  TAB, ESC, DEL, C1), Zl, Zp (U+2028, U+2029) and Cs (lone surrogates);
  NFKC before hashing and before checking (NIST SP 800-63B §5.1.1.2,
  in ``passwords.py``; an older hash is also tried as typed, then remade);
  ``invalid_request``.
- **resource-server client_id**: 1-64 of ``A-Z a-z 0-9 _ -``; **client
  secret**: 1-256 printable ASCII; ``invalid_client``, after the same work
  as an unknown client.
- **client_id of a token request**: 1-128 printable ASCII;
  ``invalid_request``.
- **sid**: 1-64 of ``A-Z a-z 0-9 _ -``; **sub**: 1-128 printable ASCII;
  not found (404), like any unknown one.
- **roles**: at most 32, each 1-64 of ``A-Z a-z 0-9 _ . : -``
  (``core/users.py``); ``invalid_request``.
- **user agent**: cut to 512; Cc, Cf, Cs, Zl, Zp replaced by U+FFFD; NFC;
  never refused (a strange browser must still be able to log in).
- **ip**: an IP address, in ``ipaddress``'s canonical form; anything else
  is dropped (``None``).

Tokens have their own strict parsers (``tokens/refresh.py``,
``tokens/access.py``) and form fields are at most 8 KiB and NUL-free before
any of this runs (``server/requests.py``).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from ..errors import InvalidRequestError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MAX_USERNAME_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "clean_text",
    "client_ip_text",
    "is_client_id",
    "is_client_secret_shape",
    "is_sid",
    "is_sub",
    "new_password",
    "normalize_password",
    "oauth_client_id",
    "presented_password",
    "username",
]

MAX_USERNAME_LENGTH = 150
#: NIST SP 800-63B: at least 8 characters for a chosen password.
MIN_PASSWORD_LENGTH = 8
#: Bounded so a huge password cannot be used to burn CPU.
MAX_PASSWORD_LENGTH = 1024
MAX_USER_AGENT_LENGTH = 512

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PRINTABLE_ASCII = re.compile(r"[!-~]+")
#: Categories that never belong in a password: controls, line and paragraph
#: separators, and lone surrogates (which cannot even be encoded as UTF-8 to
#: be hashed). Everything else, spaces and emoji included, is allowed (NIST
#: SP 800-63B §5.1.1.2).
_PASSWORD_REFUSED = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: Categories replaced in free text: controls, format characters (bidi
#: overrides, zero-width), lone surrogates and line/paragraph separators.
_TEXT_REPLACED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def username(value: object) -> str:
    """``value`` if it may name an account: 1 to 150 printable characters,
    no outer spaces. The same rule at registration, at login and in the CLI,
    so a name that could never be registered is refused the same way
    everywhere. Raises InvalidRequestError."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_USERNAME_LENGTH:
        raise InvalidRequestError(f"A username is 1 to {MAX_USERNAME_LENGTH} characters.")
    if value != value.strip() or not value.isprintable():
        raise InvalidRequestError("A username has no control characters or outer spaces.")
    return value


def normalize_password(value: str) -> str:
    """NFKC, so the same password typed on two keyboards is one password."""
    return unicodedata.normalize("NFKC", value)


def presented_password(value: object) -> str:
    """A password offered to be checked (login, current password): 1 to
    1024 characters, no control character; returned as typed (``Passwords``
    normalises it, and may also try it as typed against an older hash).
    Raises InvalidRequestError."""
    return _password(value, 1)


def new_password(value: object) -> str:
    """A password chosen to be set: 8 to 1024 characters, no control
    character; returned as typed (``Passwords.hash`` normalises it). Raises
    InvalidRequestError."""
    return _password(value, MIN_PASSWORD_LENGTH)


def _password(value: object, minimum: int) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError("The password must be a string.")
    if not minimum <= len(value) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequestError(
            f"The password must be {minimum} to {MAX_PASSWORD_LENGTH} characters."
        )
    if any(unicodedata.category(c) in _PASSWORD_REFUSED for c in value):
        raise InvalidRequestError("The password must not contain control characters.")
    return value


def is_client_id(value: object) -> bool:
    """Whether ``value`` has the shape of a resource-server client id."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_client_secret_shape(value: object) -> bool:
    """Whether ``value`` could be a client secret (1-256 printable ASCII)."""
    return (
        isinstance(value, str)
        and len(value) <= 256
        and _PRINTABLE_ASCII.fullmatch(value) is not None
    )


def oauth_client_id(value: object) -> str:
    """The ``client_id`` of a token request: 1-128 printable ASCII
    characters. Raises InvalidRequestError."""
    if not isinstance(value, str) or len(value) > 128 or not _PRINTABLE_ASCII.fullmatch(value):
        raise InvalidRequestError("A client_id is 1 to 128 printable ASCII characters.")
    return value


def is_sid(value: object) -> bool:
    """Whether ``value`` has the shape of a session id."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_sub(value: object) -> bool:
    """Whether ``value`` has the shape of a user id (1-128 printable ASCII)."""
    return (
        isinstance(value, str)
        and len(value) <= 128
        and _PRINTABLE_ASCII.fullmatch(value) is not None
    )


def clean_text(value: object, limit: int = MAX_USER_AGENT_LENGTH) -> str | None:
    """Free text kept for display (a user agent): NFC, every control,
    format or separator character replaced by U+FFFD, cut to ``limit``.
    Never refused: a strange browser must still be able to log in."""
    if not isinstance(value, str) or not value:
        return None
    text = unicodedata.normalize("NFC", value[: limit * 2])
    cleaned = ("\ufffd" if unicodedata.category(c) in _TEXT_REPLACED else c for c in text)
    return "".join(cleaned)[:limit]


def client_ip_text(value: object) -> str | None:
    """An IP address in canonical form, or ``None`` for anything else."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
