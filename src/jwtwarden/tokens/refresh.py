"""Refresh tokens: opaque ``sid.generation.mac`` strings.

``mac = HMAC-SHA256(secret, "sid.generation" ‖ salt)`` with a per-session
salt. The server stores the current generation and the salt, never a token:
a database dump cannot mint or replay one (DESIGN property 4), any past
generation can be checked by recomputing its MAC (property 3), and the child
of a rotation can be handed out again within the grace window without being
stored (property 5).

Parsing is strict: one canonical spelling per token. Revocation keys on the
``sid``, never on the token string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

__all__ = [
    "ParsedRefreshToken",
    "SaltCache",
    "is_genuine",
    "mint_refresh_token",
    "new_salt",
    "new_sid",
    "parse_refresh_token",
]

#: 22 base64url characters = 16 random bytes, canonical (spare bits zero);
#: a decimal generation without leading zeros; a 43-character HMAC-SHA256.
_SHAPE = re.compile(
    r"([A-Za-z0-9_-]{21}[AQgw])\.(0|[1-9][0-9]{0,17})\.([A-Za-z0-9_-]{42}[AEIMQUYcgkosw048])"
)
MAX_REFRESH_TOKEN_LENGTH = 128


@dataclass(frozen=True, slots=True)
class ParsedRefreshToken:
    sid: str
    generation: int
    mac: str


def new_sid() -> str:
    """128 random bits, URL-safe base64 that never begins with ``-``, so a sid
    pasted into a command line (``jwtwarden sessions revoke SID``) is never
    read as an option. Redrawing the 1 in 64 that would costs 0.09 bits."""
    while (sid := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return sid


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def mint_refresh_token(secret: bytes, sid: str, generation: int, salt: bytes) -> str:
    """The refresh token of ``sid`` at ``generation``; deterministic."""
    return f"{sid}.{generation}.{_mac(secret, sid, generation, salt)}"


def parse_refresh_token(token: object) -> ParsedRefreshToken | None:
    """The parts of a well-formed token, or ``None`` for anything else."""
    if not isinstance(token, str) or len(token) > MAX_REFRESH_TOKEN_LENGTH:
        return None
    match = _SHAPE.fullmatch(token)
    if match is None:
        return None
    sid, generation, mac = match.groups()
    return ParsedRefreshToken(sid, int(generation), mac)


def is_genuine(secret: bytes, token: ParsedRefreshToken, salt: bytes) -> bool:
    """Whether the token's MAC is the one the server would mint, compared in
    constant time."""
    expected = _mac(secret, token.sid, token.generation, salt)
    return hmac.compare_digest(expected, token.mac)


def _mac(secret: bytes, sid: str, generation: int, salt: bytes) -> str:
    digest = hmac.new(secret, f"{sid}.{generation}".encode() + salt, hashlib.sha256).digest()
    return _b64(digest)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


#: Sessions whose salt a process keeps: 100,000 x about 200 bytes (a 22-
#: character sid, 16 bytes of salt, an ordered-dict entry; measured with
#: tracemalloc) is about 20 MB at most.
SALT_CACHE_SIZE = 100_000


class SaltCache:
    """Session salts seen by this process (a salt never changes), so a refresh
    can check its MAC before the store is asked anything. Bounded to ``size``
    sessions, least recently stored first out (:data:`SALT_CACHE_SIZE`, about
    200 bytes each); losing an entry only means one slower refresh."""

    def __init__(self, size: int = SALT_CACHE_SIZE) -> None:
        self._size = size
        self._salts: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._salts)

    def get(self, sid: str) -> bytes | None:
        return self._salts.get(sid)

    def put(self, sid: str, salt: bytes) -> None:
        with self._lock:
            self._salts[sid] = salt
            while len(self._salts) > self._size:
                self._salts.popitem(last=False)
