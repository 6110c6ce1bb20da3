"""The Node verifier rejects exactly what the Python Verifier rejects, with
the same error kinds: one corpus of tokens (good ones of every algorithm,
and every refusal jwtwarden knows of), one key set, one revocation view,
one instant, judged by both; the verdicts must be equal, token by token."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jwtwarden import FrozenClock, Verifier
from jwtwarden.core.revocation import UserRevocation
from jwtwarden.core.view import RevocationSnapshot, RevocationView
from jwtwarden.errors import InvalidTokenError
from jwtwarden.tokens.access import encode_access_token
from jwtwarden.tokens.jwks import export_jwks
from jwtwarden.tokens.keys import generate_key

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "clients" / "node" / "test" / "support" / "verdicts.mjs"
ISSUER, AUDIENCE, NOW = "http://127.0.0.1:8000", "jwtwarden", 1_800_000_000.0


def b64(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**over: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "sub": "u1",
        "aud": AUDIENCE,
        "exp": NOW + 300,
        "iat": NOW - 1.5,
        "auth_time": NOW - 1.5,
        "jti": "j-good",
        "sid": "s-good",
        "client_id": "jwtwarden",
        "roles": ["admin"],
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def corpus() -> tuple[dict[str, Any], list[str]]:
    ed, ec, rs = (generate_key(alg, NOW) for alg in ("EdDSA", "ES256", "RS256"))  # type: ignore[arg-type]
    stranger = generate_key("EdDSA", NOW)  # type: ignore[arg-type]
    good = encode_access_token(claims(), ed)
    head, body, sig = good.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    forged = lambda **h: f"{b64({**header, **h})}.{body}.{sig}"  # noqa: E731
    tokens = [
        good,
        encode_access_token(claims(), ec),
        encode_access_token(claims(), rs),
        encode_access_token(claims(iat=NOW - 2, auth_time=NOW - 10, exp=NOW + 60), ed),
        # malformed
        "",
        "a.b",
        "a.b.c",
        "x" * 9000,
        f"{b64([])}.{body}.{sig}",
        f"{head}.{b64(b'not json')}.{sig}",
        f"{head}.{body}.{sig}=",
        f"{head}+.{body}.{sig}",
        # headers
        forged(alg="none"),
        forged(alg="NoNe"),
        forged(jku="https://evil"),
        forged(jwk={"kty": "oct"}),
        forged(x5u="https://evil"),
        forged(crit=["exp"]),
        forged(cty="JWT"),
        forged(typ="JWT"),
        forged(typ="application/at+jwt"),
        forged(kid="no-such-key"),
        forged(kid=""),
        forged(kid=7),
        forged(alg="ES256"),
        forged(alg="HS256"),
        # signatures
        f"{head}.{body}.{'A' * 86}",
        # the same signature bytes spelled with a spare bit set (catalogue C4)
        f"{head}.{body}.{sig[:-1]}{_B64URL[_B64URL.index(sig[-1]) ^ 1]}",
        f"{head}.{b64(claims(sub='root'))}.{sig}",
        # signed by a stranger's key, naming ours
        f"{head}.{encode_access_token(claims(), stranger).split('.', 1)[1]}",
        # claims
        *(
            encode_access_token(claims(**over), ed)
            for over in (
                {"iss": "http://evil"},
                {"iss": ISSUER + "/"},
                {"aud": "other"},
                {"aud": ["other", AUDIENCE]},
                {"exp": NOW},
                {"exp": NOW - 1},
                {"iat": NOW + 5, "auth_time": NOW},
                {"auth_time": NOW},
                {"nbf": NOW + 5},
                {"nbf": "soon"},
                {"exp": "tomorrow"},
                {"exp": True},
                {"exp": 1e13},
                {"sub": ""},
                {"sid": None},
                {"jti": 5},
                {"jti": "x" * 300},
                {"roles": "admin"},
                {"roles": [1]},
                {"client_id": 1},
            )
        ),
        # revocations
        encode_access_token(claims(jti="j-denied"), ed),
        encode_access_token(claims(sid="s-revoked"), ed),
        encode_access_token(claims(sub="u-cut"), ed),
        encode_access_token(claims(sub="u-cut", sid="s-kept"), ed),
        encode_access_token(claims(sub="u-cut", auth_time=NOW - 1, iat=NOW - 1), ed),
        encode_access_token(claims(sub="u-banned"), ed),
        encode_access_token(claims(sub="u-was-banned"), ed),
        encode_access_token(claims(jti="j-forgotten"), ed),
    ]
    snapshot = RevocationSnapshot(
        denied={"j-denied": NOW + 300, "j-forgotten": NOW - 1},
        sessions={"s-revoked": NOW + 300},
        users={
            "u-cut": (UserRevocation(NOW - 1, "s-kept", None), NOW + 300),
            "u-banned": (UserRevocation(NOW - 1, None, NOW + 3600), NOW + 300),
            "u-was-banned": (UserRevocation(NOW - 1, None, NOW - 0.5), NOW + 300),
        },
        position="1",
    )
    document = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "now": NOW,
        "jwks": export_jwks([ed, ec, rs]),
        "snapshot": snapshot.to_dict(),
        "tokens": tokens,
    }
    return document, tokens


def python_verdicts(document: dict[str, Any]) -> list[str]:
    view = RevocationView()
    view.load(RevocationSnapshot.from_dict(document["snapshot"]))
    verifier = Verifier(
        issuer=ISSUER, audience=AUDIENCE, keys=document["jwks"], view=view, clock=FrozenClock(NOW)
    )
    out = []
    for token in document["tokens"]:
        try:
            verifier.verify(token)
            out.append("accepted")
        except InvalidTokenError as error:
            name = type(error).__name__
            out.append(name.removesuffix("Error").removesuffix("Token"))
    return out


@pytest.mark.store  # never skipped in CI (tests/conftest.py)
def test_node_and_python_verifiers_give_the_same_verdicts() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "clients" / "node" / "dist" / "index.js").exists():
        pytest.skip("needs node and a built clients/node (npm ci there)")
    document, tokens = corpus()
    expected = python_verdicts(document)
    result = subprocess.run(
        [node, str(SCRIPT)], input=json.dumps(document), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout)
    differences = [
        (i, tokens[i][:60], py, js)
        for i, (py, js) in enumerate(zip(expected, verdicts, strict=True))
        if py != js
    ]
    assert not differences, differences
    assert {"accepted", "Malformed", "UnknownKey", "BadSignature", "Claims", "Expired"} <= set(
        expected
    )
    assert {"TokenDenied", "SessionRevoked", "UserCutoff", "UserBanned"} <= set(expected)
