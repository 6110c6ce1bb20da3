"""JWT-bearer attacks the main suite (``test_jwt_bearer.py``) leaves out: a
guessable HS256 key, and assertions too big to parse; each refused with
nothing created (``docs/security.md``, "The JWT-bearer grant")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest

from jwtwarden.core.clients import derived_client_secret
from tests.http.conftest import Harness
from tests.http.test_jwt_bearer import GRANT, claims_for, grant, register, sign

#: Keys an attacker would try first against an HS256 client.
GUESSES = {
    "empty": lambda c: b"",
    "secret": lambda c: b"secret",
    "client-id": lambda c: c.client_id.encode(),
    "client-name": lambda c: c.name.encode(),
    "a-hundred-zeros": lambda c: b"0" * 100,
}


@pytest.mark.parametrize("guess", list(GUESSES.values()), ids=list(GUESSES))
async def test_an_hs256_assertion_under_a_guessable_key_is_refused(h: Harness, guess: Any) -> None:
    client = await register(h, "HS256")
    r = await grant(h, hs256(claims_for(h, client), guess(client)))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    assert await h.service.store.get_user("app-user-7") is None


async def test_an_hs256_clients_secret_is_256_random_bits_per_client(h: Harness) -> None:
    """The client never chooses its secret: it is an HMAC of its id under
    the server's secret, so no low-entropy key can be registered and a
    database dump holds none."""
    one, two = await register(h, "HS256"), await register(h, "HS256")
    mac_secret = h.service.keys.ring.mac_secret
    first = derived_client_secret(mac_secret, one.client_id)
    assert len(base64.urlsafe_b64decode(first + "=")) == 32
    assert first != derived_client_secret(mac_secret, two.client_id)
    assert first != derived_client_secret(b"another server's secret", one.client_id)
    assert (await grant(h, sign(h, one, "HS256"))).status_code == 200


async def test_an_oversized_assertion_is_refused_at_the_edge(h: Harness) -> None:
    client = await register(h)
    big = sign(h, client, padding="x" * 10_000)  # genuinely signed, too big
    users_before = await h.service.store.list_users()
    r = await grant(h, big)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert "assertion" in r.json()["error_description"]
    assert await h.service.store.list_users() == users_before
    # Past the body limit the request is not even read.
    r = await h.client.post("/token", data={"grant_type": GRANT, "assertion": "x" * 70_000})
    assert r.status_code == 413
    assert await h.service.store.list_users() == users_before


def hs256(claims: dict[str, Any], key: bytes) -> str:
    # By hand: PyJWT rightly refuses to sign with keys this short.
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
    payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    mac = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{jwt.utils.base64url_encode(mac).decode()}"
