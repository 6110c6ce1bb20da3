"""Property-based fuzzing (Hypothesis) of every parser an attacker feeds:
the refresh-token parser, the access-token verifier, form and JSON body
parsing, and the cookie parser.

Each never raises anything but its documented error, and a refresh token
with any single character changed is never genuine. The number of examples
is bounded by the profiles in ``conftest.py`` (``ci`` under CI=true), so
this stays a few seconds of the suite.
"""

from __future__ import annotations

import contextlib
import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request, cookie_parser

from jwtwarden.errors import InvalidRequestError, InvalidTokenError, JwtWardenError
from jwtwarden.server.cookies import Cookies
from jwtwarden.server.endpoints.models import Ban, Login, NewUser, PasswordChange, Roles
from jwtwarden.server.errors import HttpError
from jwtwarden.server.requests import read_form, read_json
from jwtwarden.tokens.access import encode_access_token
from jwtwarden.tokens.keys import generate_key
from jwtwarden.tokens.refresh import (
    is_genuine,
    mint_refresh_token,
    new_salt,
    new_sid,
    parse_refresh_token,
)
from jwtwarden.verifier import Verifier

B64URL = string.ascii_letters + string.digits + "-_"
SECRET = b"k" * 32
NOW = 1_800_000_000.0

# Refresh tokens.


@given(st.one_of(st.text(max_size=200), st.binary(max_size=64), st.integers(), st.none()))
def test_the_refresh_token_parser_never_raises(token: Any) -> None:
    parsed = parse_refresh_token(token)
    assert parsed is None or mint_refresh_token(SECRET, parsed.sid, parsed.generation, b"") != ""


@st.composite
def one_character_changed(draw: st.DrawFn) -> tuple[str, str, bytes]:
    sid, salt = new_sid(), new_salt()
    generation = draw(st.integers(min_value=0, max_value=10**6))
    token = mint_refresh_token(SECRET, sid, generation, salt)
    i = draw(st.integers(min_value=0, max_value=len(token) - 1))
    c = draw(st.one_of(st.sampled_from(B64URL + "."), st.characters()))
    if c == token[i]:
        c = "A" if token[i] != "A" else "B"
    return token, token[:i] + c + token[i + 1 :], salt


@given(one_character_changed())
def test_a_refresh_token_with_any_single_character_changed_is_never_genuine(
    case: tuple[str, str, bytes],
) -> None:
    original, changed, salt = case
    parsed = parse_refresh_token(changed)
    assert parsed is None or not is_genuine(SECRET, parsed, salt), (original, changed)


# Access tokens, through the resource-server Verifier.

KEYS = {alg: generate_key(alg, NOW) for alg in ("EdDSA", "ES256", "HS256")}  # type: ignore[arg-type]
CLAIMS = {
    "iss": "https://auth.example.test",
    "aud": "jwtwarden",
    "sub": "alice",
    "client_id": "jwtwarden",
    "iat": int(NOW),
    "auth_time": int(NOW),
    "exp": int(NOW) + 300,
    "jti": "jti-1",
    "sid": "sid-1",
    "roles": ["user"],
}


class _Clock:
    def now(self) -> float:
        return NOW


def verifier(alg: str) -> Verifier:
    return Verifier(
        issuer=CLAIMS["iss"],  # type: ignore[arg-type]
        audience="jwtwarden",
        keys=[KEYS[alg]],
        clock=_Clock(),  # type: ignore[arg-type]
    )


VERIFIERS = {alg: verifier(alg) for alg in KEYS}
TOKENS = {alg: encode_access_token(CLAIMS, key) for alg, key in KEYS.items()}


def b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def hostile_access_tokens(draw: st.DrawFn) -> str:
    alg = draw(st.sampled_from(sorted(TOKENS)))
    genuine = TOKENS[alg]
    kind = draw(st.sampled_from(["text", "mutated", "forged", "segments"]))
    if kind == "text":
        return draw(st.text(max_size=300))
    if kind == "mutated":
        i = draw(st.integers(min_value=0, max_value=len(genuine) - 1))
        return genuine[:i] + draw(st.characters()) + genuine[i + 1 :]
    if kind == "segments":
        return ".".join(draw(st.lists(st.text(B64URL + "=+/", max_size=40), max_size=6)))
    header = draw(
        st.dictionaries(
            st.sampled_from(["alg", "kid", "typ", "crit", "jwk", "jku"]), json_values, max_size=5
        )
    )
    if draw(st.booleans()):
        header = {"alg": alg, "kid": KEYS[alg].kid, "typ": "at+jwt"} | header
    claims = draw(st.one_of(json_values, st.just(CLAIMS)))
    raw_header = json.dumps(header).encode()
    raw_claims = json.dumps(claims).encode()
    signature = draw(st.binary(max_size=80))
    return f"{b64(raw_header)}.{b64(raw_claims)}.{b64(signature)}"


@given(hostile_access_tokens())
def test_the_access_token_verifier_raises_only_invalid_token(token: str) -> None:
    for alg, v in VERIFIERS.items():
        try:
            claims = v.verify(token)
        except InvalidTokenError:
            continue
        # Only the genuine token's claims can ever come out (a non-canonical
        # spelling of its last character is the one leniency; see below).
        assert claims.raw == CLAIMS, (alg, token)


@given(st.sampled_from(sorted(TOKENS)), st.data())
def test_no_single_character_change_yields_other_claims(alg: str, data: st.DataObject) -> None:
    genuine = TOKENS[alg]
    i = data.draw(st.integers(min_value=0, max_value=len(genuine) - 1))
    c = data.draw(st.sampled_from(B64URL + ".=+/ "))
    changed = genuine[:i] + c + genuine[i + 1 :]
    try:
        claims = VERIFIERS[alg].verify(changed)
    except InvalidTokenError:
        return
    assert claims.raw == CLAIMS and claims.jti == CLAIMS["jti"]  # same token, same jti


def test_an_access_token_has_one_spelling() -> None:
    for alg, genuine in TOKENS.items():
        for c in B64URL:
            changed = genuine[:-1] + c
            if changed != genuine:
                with pytest.raises(InvalidTokenError):
                    VERIFIERS[alg].verify(changed)


# Form and JSON bodies.


def request(body: bytes, content_type: str, declared: int | None = None) -> Request:
    headers = [(b"content-type", content_type.encode("latin-1"))]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)] or [b""]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    return Request(scope, receive)


form_bodies = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.tuples(
            st.sampled_from(["grant_type", "username", "password", "token", "x"]),
            st.text(max_size=30),
        ),
        max_size=8,
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")),
)
content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain",
        "",
        "application/x-www-form-urlencoded; charset=latin-1",
        "APPLICATION/JSON",
    ]
)


@given(form_bodies, content_types)
async def test_form_parsing_raises_only_invalid_request(body: bytes, content_type: str) -> None:
    try:
        form = await read_form(request(body, content_type))
    except (InvalidRequestError, HttpError):
        return
    assert all(
        isinstance(k, str) and isinstance(v, str) and "\x00" not in v for k, v in form.items()
    )


json_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(
            ["username", "password", "roles", "until", "current_password", "new_password", "extra"]
        ),
        json_values,
        max_size=4,
    ).map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
)


@given(json_bodies, content_types, st.sampled_from([Login, NewUser, PasswordChange, Roles, Ban]))
async def test_json_parsing_raises_only_invalid_request(
    body: bytes, content_type: str, model: Any
) -> None:
    with contextlib.suppress(InvalidRequestError, HttpError):
        await read_json(request(body, content_type), model)


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=10**7))
async def test_a_lying_content_length_raises_only_413_or_invalid_request(
    body: bytes, declared: int
) -> None:
    try:
        await read_form(request(body, "application/x-www-form-urlencoded", declared))
    except HttpError as exc:
        assert exc.status == 413
    except InvalidRequestError:
        pass


# Cookies.

COOKIES = Cookies(insecure=False, secret=lambda: SECRET, origins={"https://auth.example.test"})
cookie_headers = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.tuples(
            st.sampled_from([COOKIES.access, COOKIES.refresh, COOKIES.csrf, "x", ""]),
            st.text(max_size=40),
        ),
        max_size=6,
    ).map(lambda pairs: "; ".join(f"{k}={v}" for k, v in pairs)),
)


@given(cookie_headers)
def test_the_cookie_parser_raises_only_invalid_request(header: str) -> None:
    parsed = cookie_parser(header)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())
    raw = header.encode("latin-1", "replace")
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"cookie", raw), (b"x-csrf-token", raw[:200])],
    }
    r = Request(scope)
    for name in (COOKIES.access, COOKIES.refresh, COOKIES.csrf):
        try:
            value = COOKIES.require_cookie(r, name)
        except InvalidRequestError:
            continue
        assert 0 < len(value) <= 8192
    try:
        COOKIES.check_csrf(r, "sid")
    except JwtWardenError as exc:
        assert isinstance(exc, HttpError) and exc.status == 403


@settings(max_examples=1)
@given(st.just(None))
def test_the_profile_bounds_the_examples(_: None) -> None:
    # A reminder that the bounds come from conftest's profiles.
    assert settings.default.deadline is None


# End to end: a mangled refresh token is only ever invalid_grant, and never
# revokes the session it names (DESIGN property 2: knowing a sid is not enough).


@pytest.fixture
async def live_session(make_harness: Any) -> Any:
    h = await make_harness()
    return h, (await h.login())["refresh_token"]


@settings(max_examples=25)
@given(st.data())
async def test_a_mangled_refresh_token_is_invalid_grant_and_revokes_nothing(
    live_session: Any, data: st.DataObject
) -> None:
    h, token = live_session
    i = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    c = data.draw(st.sampled_from(B64URL + ".="))
    changed = token[:i] + c + token[i + 1 :]
    if changed == token:
        return
    r = await h.refresh(changed)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    sid = token.split(".")[0]
    assert (await h.service.get_session(sid)).revoked_at is None
