"""The Redis store's field codec: sessions, users, clients and feed events
to and from hash fields (one-letter names; docs/stores.md, "Key layout").

Times in a session hash are integer microseconds where that reads back as
the very same double, else a float's repr; ``scripts/*.lua`` decode them
with ``sec()`` to the same double :func:`parse_time` makes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ...core.clients import Client
from ...core.revocation import NO_REVOCATION, UserRevocation
from ...core.sessions import Session
from ...core.users import User
from ...core.view import RevocationEvent, event_forget_at

__all__ = [
    "client_fields",
    "client_of",
    "event_of",
    "fmt_float",
    "fmt_time",
    "pairs",
    "parse_time",
    "revocation_of",
    "session_and_user",
    "session_fields",
    "session_of",
    "ttl_ms",
    "user_fields",
    "user_of",
]

#: A session of this client stores no ``c`` field.
_DEFAULT_CLIENT = "jwtwarden"


def fmt_float(value: float) -> str:
    """A float as the shortest string that reads back as the same double."""
    return repr(float(value))


def fmt_time(value: float) -> str:
    """A session time: integer microseconds when that reads back as the very
    same double (every time a Clock makes), else the float's repr. Fewer
    bytes in the hash."""
    micros = round(value * 1_000_000)
    return str(micros) if micros / 1_000_000 == value else repr(float(value))


def parse_time(value: bytes) -> float:
    """Read back :func:`fmt_time` (or :func:`fmt_float`)."""
    return float(value) if any(c in value for c in b".eEn") else int(value) / 1_000_000


def ttl_ms(seconds: float) -> str:
    """A relative TTL in milliseconds, at least one second."""
    return str(max(1000, int(seconds * 1000)))


def pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A script's flat ``HGETALL`` reply as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


# sessions


def session_fields(s: Session) -> list[str | bytes]:
    """Compact hash fields: one-letter names, times as integer microseconds
    where exact, a UUID ``sub`` as its 16 bytes, the default client omitted
    (about 250 bytes a session by ``MEMORY USAGE``)."""
    fields: list[str | bytes] = [
        *_sub_field(s.sub), "g", str(s.generation), "s", s.salt, "a", fmt_time(s.auth_time),
        "x", fmt_time(s.expires_at), "l", fmt_time(s.last_used_at),
    ]  # fmt: skip
    optional = {"t": s.rotated_at, "r": s.revoked_at}
    fields += [item for k, v in optional.items() if v is not None for item in (k, fmt_time(v))]
    texts = {"w": s.revoke_reason, "i": s.ip, "y": s.user_agent, "m": s.claims, "k": s.jkt}
    if s.client_id != _DEFAULT_CLIENT:
        texts["c"] = s.client_id
    fields += [item for k, v in texts.items() if v is not None for item in (k, v)]
    return fields


def _sub_field(sub: str) -> tuple[str, str | bytes]:
    try:
        packed = uuid.UUID(sub)
    except ValueError:
        return "u", sub
    return ("U", packed.bytes) if str(packed) == sub else ("u", sub)


def session_of(sid: str, h: dict[bytes, bytes]) -> Session | None:
    """The session in hash ``h`` (``None`` if the hash is empty: no key)."""
    if not h:
        return None
    packed = h.get(b"U")
    return Session(
        sid=sid,
        sub=str(uuid.UUID(bytes=packed)) if packed is not None else h[b"u"].decode(),
        generation=int(h[b"g"]),
        salt=bytes(h[b"s"]),
        auth_time=parse_time(h[b"a"]),
        expires_at=parse_time(h[b"x"]),
        last_used_at=parse_time(h[b"l"]),
        rotated_at=_opt_time(h.get(b"t")),
        revoked_at=_opt_time(h.get(b"r")),
        revoke_reason=_opt_text(h.get(b"w")),
        ip=_opt_text(h.get(b"i")),
        user_agent=_opt_text(h.get(b"y")),
        client_id=h[b"c"].decode() if b"c" in h else _DEFAULT_CLIENT,
        claims=_opt_text(h.get(b"m")),
        jkt=_opt_text(h.get(b"k")),
    )


def session_and_user(sid: str, found: Any) -> tuple[Session, User] | None:
    """Decode a script's ``{session fields, user fields}`` (nil: ``None``)."""
    if not found:
        return None
    session_flat, user_flat = found
    session = session_of(sid, pairs(session_flat))
    if session is None:
        return None
    user = user_of(session.sub, pairs(user_flat))
    return None if user is None else (session, user)


# users


def user_fields(u: User) -> list[str]:
    fields = ["n", u.username, "h", u.password_hash, "r", json.dumps(list(u.roles))]
    fields += ["c", fmt_float(u.created_at)]
    r = u.revocation
    optional = {"o": r.cutoff_at, "b": r.banned_until}
    fields += [item for k, v in optional.items() if v is not None for item in (k, fmt_float(v))]
    if r.keep_sid is not None:
        fields += ["k", r.keep_sid]
    return fields


def user_of(sub: str, h: dict[bytes, bytes]) -> User | None:
    """The user in hash ``h`` (``None`` if the hash is empty: no key)."""
    if not h:
        return None
    return User(
        sub=sub,
        username=h[b"n"].decode(),
        password_hash=h[b"h"].decode(),
        roles=tuple(json.loads(h[b"r"])),
        created_at=float(h[b"c"]),
        revocation=revocation_of(h.get(b"o"), h.get(b"k"), h.get(b"b")),
    )


def revocation_of(
    cutoff_at: bytes | None, keep_sid: bytes | None, banned_until: bytes | None
) -> UserRevocation:
    """A user's revocation state from its ``o``, ``k`` and ``b`` fields."""
    if cutoff_at is None and keep_sid is None and banned_until is None:
        return NO_REVOCATION
    return UserRevocation(_opt_float(cutoff_at), _opt_text(keep_sid), _opt_float(banned_until))


# clients


def client_fields(c: Client) -> list[str]:
    """``n`` name, ``h`` secret hash, ``c`` created_at; a client that starts
    sessions adds ``i`` (``1``), ``r`` its roles (JSON) and ``j`` its JWK Set;
    ``d`` (``1``) when it requires DPoP."""
    fields = ["n", c.name, "h", c.secret_hash, "c", fmt_float(c.created_at)]
    if c.issues_sessions:
        fields += ["i", "1", "r", json.dumps(list(c.session_roles))]
    if c.jwks is not None:
        fields += ["j", c.jwks]
    if c.require_dpop:
        fields += ["d", "1"]
    return fields


def client_of(client_id: str, h: dict[bytes, bytes]) -> Client | None:
    if not h:
        return None
    return Client(
        client_id,
        h[b"n"].decode(),
        h[b"h"].decode(),
        float(h[b"c"]),
        issues_sessions=h.get(b"i") == b"1",
        session_roles=tuple(json.loads(h[b"r"])) if b"r" in h else (),
        jwks=_opt_text(h.get(b"j")),
        require_dpop=h.get(b"d") == b"1",
    )


# the feed


def event_of(entry_id: bytes, f: dict[bytes, bytes], horizon: float) -> RevocationEvent:
    """One feed entry as an event; its ``forget_at`` is
    :func:`~jwtwarden.core.view.event_forget_at`'s (a sid, user or store
    entry stores only the instant it happened)."""
    kind, key, position = f[b"k"].decode(), f[b"i"].decode(), entry_id.decode()
    if kind == "jti":  # stores only its own forget_at, which is all that counts
        forget_at = float(f[b"f"])
        return RevocationEvent(position, kind, key, event_forget_at(kind, 0.0, forget_at, horizon))
    at = parse_time(f[b"a"])
    user = None
    if kind == "user":
        user = UserRevocation(at, _opt_text(f.get(b"s")), _opt_float(f.get(b"b")))
    cutoff = at if kind == "store" else None
    forget_at = event_forget_at(kind, at, None, horizon)
    return RevocationEvent(position, kind, key, forget_at, user, cutoff)


def _opt_time(value: bytes | None) -> float | None:
    return None if value is None else parse_time(value)


def _opt_float(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def _opt_text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()
