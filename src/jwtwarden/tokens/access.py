"""Access tokens: JWTs per RFC 9068 (``typ: at+jwt``). The sole importer of
the JOSE library (PyJWT); its errors are re-raised as ours.

What is refused, each with a specific error and never an unexpected
exception (RFC 8725 §3):

- anything over :data:`MAX_TOKEN_LENGTH` or not three base64url parts;
- ``alg: none`` in any casing, and any ``alg`` other than the one bound to
  the key named by ``kid`` (so HS/RS confusion cannot happen: the key's own
  algorithm is the only one tried, never the header's choice);
- an unknown ``kid``, and the ``jku``/``jwk``/``x5u``/``x5c``/``crit``
  headers, which would let the token pick its own key;
- a ``typ`` other than ``at+jwt`` (a refresh token or an ID token is not an
  access token);
- missing ``iss``/``sub``/``aud``/``exp``/``iat``/``jti``/``sid``/``auth_time``
  (PyJWT accepts a token without ``exp`` unless told otherwise), wrong types,
  bad ``iss``/``aud``, expiry and future ``iat``/``nbf`` beyond the leeway.

Time is passed in; every clock check is done here.

Signatures are checked by PyJWT's algorithm objects (``jwt.algorithms``);
the compact serialization around them (three base64url parts split on dots)
is parsed here once. PyJWT's own ``decode`` scans every character of every
segment in Python and would have to run twice (the header is needed first,
to pick the key by ``kid``), which cost more than the Ed25519 verification
itself and put a verifier below bare ``jwt.decode``. One regular expression
checks the alphabet instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import jwt

from ..core.claims import load_claims
from ..core.policy import Policy
from ..core.revocation import Cause
from ..core.sessions import Session
from ..errors import (
    BadSignatureError,
    ClaimsError,
    ExpiredTokenError,
    MalformedTokenError,
    RevokedTokenError,
    SessionRevokedError,
    TokenDeniedError,
    UnknownKeyError,
    UserBannedError,
    UserCutoffError,
)

if TYPE_CHECKING:
    from .jwks import VerifyingKey
    from .keys import PublicKey, SigningKey

__all__ = [
    "EXACT_AUTH_TIME",
    "MAX_TOKEN_LENGTH",
    "AccessClaims",
    "decode_access_token",
    "encode_access_token",
    "new_access_claims",
    "read_header",
    "read_payload",
    "revoked_error",
    "verify_signed",
    "VerificationKey",
]

#: The private claim holding the exact login instant (float seconds, as the
#: session keeps it); ``auth_time`` is its whole second.
EXACT_AUTH_TIME = "jwtwarden_auth_time"
#: Longest access token accepted; ours are ~600 bytes (RS256 ~750).
MAX_TOKEN_LENGTH = 8192
#: Header parameters that would let a token choose its own verification key.
_FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: Three base64url segments, no padding (RFC 7515 §7.1, §2).
_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")
#: PyJWT's signature algorithms, looked up by the *key's* algorithm only;
#: ``Ed25519`` (RFC 9864) is PyJWT's ``EdDSA`` on an Ed25519 key.
_ALGORITHMS = dict(jwt.algorithms.get_default_algorithms())
_ALGORITHMS["Ed25519"] = _ALGORITHMS["EdDSA"]
# Every way a hostile string can make decoding blow up; all mean "malformed".
_PARSE_ERRORS = (
    jwt.DecodeError,
    ValueError,
    TypeError,
    KeyError,
    RecursionError,
    UnicodeError,
    binascii.Error,
    OverflowError,
)
_MAX_ID = 256
#: A base64url SHA-256 digest (RFC 7638 thumbprint), unpadded.
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


class VerificationKey(Protocol):
    """A key that can verify: a :class:`~jwtwarden.tokens.keys.SigningKey` or
    a :class:`~jwtwarden.tokens.jwks.VerifyingKey` from a JWKS."""

    @property
    def alg(self) -> str: ...

    @property
    def public(self) -> PublicKey | bytes: ...


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token."""

    sub: str
    sid: str
    jti: str
    iat: float
    exp: float
    #: The exact login instant (:func:`exact_auth_time`), what revocations
    #: are judged by; ``raw["auth_time"]`` is its whole second.
    auth_time: float
    roles: tuple[str, ...]
    client_id: str
    #: Every claim as decoded, for callers that want extra ones.
    raw: dict[str, Any]
    #: The payload exactly as signed: the UTF-8 JSON text ``raw`` was
    #: parsed from. ``GET /me`` answers it as it is: encoding ``raw`` again
    #: cost 4 µs of its 22 µs per request (in process, 2026-12-02).
    payload_json: bytes
    #: ``cnf.jkt`` (RFC 9449 §6.1): the thumbprint of the key the token is
    #: bound to, or ``None`` for a bearer token.
    jkt: str | None = None


def new_access_claims(
    session: Session,
    sub: str,
    roles: tuple[str, ...],
    policy: Policy,
    now: float,
    *,
    jkt: str | None = None,
) -> dict[str, Any]:
    """The claims of a new access token for ``session`` (RFC 9068 §2.2): it
    expires after ``access_ttl``, never after the session itself, and
    carries the session's login instant unchanged.

    Every NumericDate is a whole second (``exp``, ``iat`` and ``auth_time``
    rounded down), as standard validators expect: a fractional ``iat`` is
    "in the future" for up to a second to some of them. The exact login
    instant travels in :data:`EXACT_AUTH_TIME`, which they ignore and
    jwtwarden's revocation checks read, so a cutoff still divides two logins
    of the same second (see :func:`exact_auth_time`). ``roles`` is left out
    when there are none. The session's custom claims (``core/claims.py``)
    come first: none of them can take a name set here. ``jkt``: the token
    is DPoP-bound to that key (``cnf.jkt``, RFC 9449 §6.1).
    """
    return {
        **(load_claims(session.claims) if session.claims else {}),
        "iss": policy.issuer,
        "sub": sub,
        "aud": policy.audience,
        "exp": math.floor(min(now + policy.access_ttl, session.expires_at)),
        "iat": math.floor(now),
        "auth_time": math.floor(session.auth_time),
        EXACT_AUTH_TIME: session.auth_time,
        "jti": secrets.token_urlsafe(16),
        "sid": session.sid,
        "client_id": session.client_id,
        # Only when there are roles: Authlib's RFC 9068 validator refuses an
        # empty list as a blank claim, and no claim means no role anyway.
        **({"roles": list(roles)} if roles else {}),
        **({"cnf": {"jkt": jkt}} if jkt is not None else {}),
    }


def encode_access_token(claims: dict[str, Any], key: SigningKey) -> str:
    """Sign ``claims`` with ``key`` as an RFC 9068 access token. The header
    is the same for every token of a key, so it is encoded once per key; the
    signature comes from PyJWT's algorithm object, as in decoding."""
    header = _HEADERS.get(key.kid)
    if header is None:
        header = _HEADERS[key.kid] = _b64encode(
            json.dumps(
                {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}, separators=(",", ":")
            ).encode()
        )
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}"
    algorithm = _ALGORITHMS[key.alg]
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key.private))
    return f"{signing_input}.{_b64encode(signature)}"


#: Encoded header per kid (a handful of keys at most).
_HEADERS: dict[str, str] = {}


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def read_header(token: str) -> dict[str, Any]:
    """The unverified header, after the size and shape checks."""
    return _json_object(_split(token)[0])


def read_payload(token: str) -> dict[str, Any]:
    """The unverified payload, after the size and shape checks: only to
    find who claims to have signed it (a JWT-bearer assertion's ``iss``)."""
    return _json_object(_split(token)[1])


def verify_signed(token: str, keys: Sequence[VerifyingKey]) -> dict[str, Any]:
    """The payload of a compact JWS signed by one of ``keys`` (any JWT, not
    only an access token: a client's JWT-bearer assertion).

    The same refusals as an access token's header, ``typ`` aside: ``alg:
    none``, an ``alg`` other than the chosen key's own (so an HS256 token
    cannot pass for an RS256 one), ``jku``/``jwk``/``x5u``/``x5c``/``crit``
    and ``cty``. With several keys the ``kid`` picks one; a single key is
    tried whatever the ``kid`` says. Raises MalformedTokenError, UnknownKeyError or
    BadSignatureError.
    """
    header_b64, payload_b64, signature_b64 = _split(token)
    header = _json_object(header_b64)
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise MalformedTokenError("The token is unsigned.")
    if _FORBIDDEN_HEADERS.intersection(header) or "cty" in header:
        raise MalformedTokenError("The token names its own key or content type; refused.")
    candidates = list(keys) if len(keys) == 1 else [k for k in keys if k.kid == kid]
    if len(candidates) != 1:
        raise UnknownKeyError()
    key = candidates[0]
    if alg != key.alg and {alg, key.alg} != {"EdDSA", "Ed25519"}:
        raise BadSignatureError("The token algorithm does not match its key.")
    try:
        signature = _signature_bytes(signature_b64)
        signing_input = f"{header_b64}.{payload_b64}".encode()
        genuine = _ALGORITHMS[key.alg].verify(signing_input, key.public, signature)
    except (jwt.PyJWTError, *_PARSE_ERRORS) as exc:
        raise BadSignatureError() from exc
    if not genuine:
        raise BadSignatureError()
    return _json_object(payload_b64)


def _split(token: object) -> tuple[str, str, str]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise MalformedTokenError()
    match = _COMPACT.fullmatch(token)
    if match is None:
        raise MalformedTokenError()
    header, payload, signature = match.groups()
    return header, payload, signature


#: The base64url characters a last character may be when its unused low bits
#: are zero, by the segment's length mod 4 (RFC 4648 §3.5): two or four bits
#: left over. Any other spelling decodes to the same bytes, so without this a
#: signature would have several spellings (catalogue C4).
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CANONICAL_LAST = {2: frozenset(_B64URL[::16]), 3: frozenset(_B64URL[::4])}


def _signature_bytes(segment: str) -> bytes:
    canonical = _CANONICAL_LAST.get(len(segment) % 4)
    if canonical is not None and segment[-1] not in canonical:
        raise MalformedTokenError()
    return _b64decode(segment)


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedTokenError() from exc


def _json_object(segment: str) -> dict[str, Any]:
    return _parse_object(_b64decode(segment))


def _parse_object(text: bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except _PARSE_ERRORS as exc:
        raise MalformedTokenError() from exc
    if not isinstance(value, dict):
        raise MalformedTokenError()
    return value


def decode_access_token(
    token: str,
    find_key: Callable[[str], VerificationKey | None],
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float = 0.0,
    check_expiry: bool = True,
    max_lifetime: float | None = None,
) -> AccessClaims:
    """Verify ``token`` and return its claims.

    ``find_key(kid)`` returns the key for a ``kid`` or ``None``.
    ``max_lifetime`` (seconds) refuses a token whose ``exp − iat`` is longer
    than the issuer's access tokens live (SECURITY.md D4).

    Raises :class:`~jwtwarden.errors.InvalidTokenError` subclasses:
    ``MalformedTokenError``, ``UnknownKeyError``, ``BadSignatureError``,
    ``ClaimsError`` and ``ExpiredTokenError``. Revocation is not checked here.
    """
    header_b64, payload_b64, signature_b64 = _split(token)
    key = _key_for(_json_object(header_b64), find_key)
    signing_input = f"{header_b64}.{payload_b64}".encode()
    try:
        signature = _signature_bytes(signature_b64)
        genuine = _ALGORITHMS[key.alg].verify(signing_input, key.public, signature)
    except (jwt.PyJWTError, *_PARSE_ERRORS) as exc:
        raise BadSignatureError() from exc
    if not genuine:
        raise BadSignatureError()
    payload_json = _b64decode(payload_b64)
    payload = _parse_object(payload_json)
    if not check_expiry:
        now = min(now, _float_claim(payload, "exp") - leeway - 1e-6)
    return _check_claims(
        payload,
        payload_json,
        issuer=issuer,
        audience=audience,
        now=now,
        leeway=leeway,
        max_lifetime=max_lifetime,
    )


def _key_for(
    header: dict[str, Any], find_key: Callable[[str], VerificationKey | None]
) -> VerificationKey:
    alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise MalformedTokenError("The access token is unsigned.")
    if _FORBIDDEN_HEADERS.intersection(header):
        raise MalformedTokenError("The access token names its own key; refused.")
    if "cty" in header:  # a nested JWT or another content type (RFC 8725 §3.11)
        raise MalformedTokenError("The access token declares a content type; refused.")
    if not isinstance(typ, str) or typ.lower() not in _TYPES:
        raise ClaimsError("The token is not an access token (typ).")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_ID:
        raise UnknownKeyError()
    key = find_key(kid)
    if key is None:
        raise UnknownKeyError()
    if alg != key.alg:
        raise BadSignatureError("The access token algorithm does not match its key.")
    return key


def _check_claims(
    payload: dict[str, Any],
    payload_json: bytes,
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
    max_lifetime: float | None,
) -> AccessClaims:
    sub, sid, jti = (_string(payload, name) for name in ("sub", "sid", "jti"))
    exp, iat, auth_time = (_number(payload, name) for name in ("exp", "iat", "auth_time"))
    if payload.get("iss") != issuer:
        raise ClaimsError("The access token has the wrong issuer.")
    aud = payload.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise ClaimsError("The access token is not meant for this audience.")
    if now >= exp + leeway:
        raise ExpiredTokenError()
    if iat > now + leeway or auth_time > iat:
        raise ClaimsError("The access token was issued in the future.")
    # Issued with exp = floor(now + ttl) and iat = floor(now), so a genuine
    # token's span is at most ceil(ttl). A longer one outlives the store's
    # revocation records (kept one access-token lifetime, DESIGN property 7):
    # only a leaked signing key or a lowered ttl makes one, and both refuse.
    if max_lifetime is not None and exp - iat > math.ceil(max_lifetime):
        raise ClaimsError("The access token lives longer than this issuer's access tokens do.")
    auth_time = exact_auth_time(payload, auth_time)
    nbf = payload.get("nbf")
    if nbf is not None and (not _is_number(nbf) or nbf > now + leeway):
        raise ClaimsError("The access token is not valid yet.")
    roles = payload.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ClaimsError("The access token roles are malformed.")
    client_id = payload.get("client_id", "")
    if not isinstance(client_id, str):
        raise ClaimsError("The access token client_id is malformed.")
    return AccessClaims(
        sub,
        sid,
        jti,
        iat,
        exp,
        auth_time,
        tuple(roles),
        client_id,
        payload,
        payload_json,
        _jkt(payload),
    )


def _jkt(payload: dict[str, Any]) -> str | None:
    # RFC 9449 §6.1: cnf is an object and its jkt a SHA-256 thumbprint,
    # 43 base64url characters. A cnf without jkt (another confirmation
    # method, RFC 7800) binds to nothing this verifier can check: refused,
    # never read as a bearer token.
    if "cnf" not in payload:
        return None
    cnf = payload["cnf"]
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not _JKT.fullmatch(jkt):
        raise ClaimsError("The access token's cnf.jkt is malformed.")
    return jkt


def exact_auth_time(payload: dict[str, Any], auth_time: float) -> float:
    """The login instant a cutoff judges a token by.

    A cutoff at instant T kills the sessions that began strictly before T,
    even in the same second, so the whole-second ``auth_time`` alone cannot
    decide. jwtwarden's tokens carry the session's exact login instant in
    :data:`EXACT_AUTH_TIME`; it must fall within the second ``auth_time``
    names. A token without it (one issued before whole-second NumericDates,
    whose ``auth_time`` was itself exact, or one from another issuer) is
    judged by ``auth_time`` as it is: rounded down, that errs towards
    revoking, never towards sparing a session a cutoff covers.
    """
    if EXACT_AUTH_TIME not in payload:
        return auth_time
    exact = payload[EXACT_AUTH_TIME]
    if not _is_number(exact) or math.floor(exact) != math.floor(auth_time):
        raise ClaimsError(f"The access token lacks a valid {EXACT_AUTH_TIME!r} claim.")
    return float(exact)


def _string(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise ClaimsError(f"The access token lacks a valid {name!r} claim.")
    return value


def _number(payload: dict[str, Any], name: str) -> float:
    value = payload.get(name)
    if not _is_number(value):
        raise ClaimsError(f"The access token lacks a valid {name!r} claim.")
    return float(value)  # type: ignore[arg-type]


def _float_claim(payload: dict[str, Any], name: str) -> float:
    value = payload.get(name)
    return float(value) if _is_number(value) else 0.0  # type: ignore[arg-type]


def _is_number(value: object) -> bool:
    # NumericDate (RFC 7519 §2); bounded so neither NaN, infinity nor a
    # 400-digit integer reaches a float comparison.
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e12


_CAUSE_ERRORS: dict[Cause, type[RevokedTokenError]] = {
    Cause.DENIED: TokenDeniedError,
    Cause.SESSION: SessionRevokedError,
    Cause.CUTOFF: UserCutoffError,
    Cause.BANNED: UserBannedError,
}


def revoked_error(cause: Cause) -> RevokedTokenError:
    """The error that names a revocation cause."""
    return _CAUSE_ERRORS[cause]()
