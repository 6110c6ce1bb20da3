"""DPoP through the jwtwarden.django app: its DRF class and its middleware
(with ``require_token``) accept a token bound to the client's key with a
fresh proof, count each proof once, and refuse the bound token as Bearer."""

from __future__ import annotations

from typing import Any

from django.test import Client
from rest_framework.test import APIClient

from jwtwarden import FrozenClock
from jwtwarden.dpop_client import DpopKey
from jwtwarden.tokens.access import encode_access_token, read_payload

from .conftest import login


def bind(service: Any, token: str, key: DpopKey) -> str:
    """``token`` with ``cnf.jkt`` of ``key``, signed by the app's key."""
    signer = service.service.keys.signing_key()
    return encode_access_token({**read_payload(token), "cnf": {"jkt": key.jkt}}, signer)


def test_a_bound_token_passes_with_a_fresh_proof_once(
    api: APIClient, plain: Client, alice: Any, service: Any, clock: FrozenClock
) -> None:
    key = DpopKey.generate(clock=clock)
    token = bind(service, login(api, alice)["access"], key)
    for client, path in ((api, "/drf/me"), (plain, "/plain/required")):
        proof = key.proof("GET", f"http://testserver{path}", token)
        headers = {"HTTP_AUTHORIZATION": f"DPoP {token}", "HTTP_DPOP": proof}
        response = client.get(path, **headers)
        assert response.status_code == 200, response.content
        again = client.get(path, **headers)
        assert again.status_code == 401
        challenge = again.headers["WWW-Authenticate"]
        assert challenge.startswith("DPoP ") and 'error="invalid_dpop_proof"' in challenge


def test_a_bound_token_as_bearer_is_refused_with_the_dpop_challenge(
    api: APIClient, alice: Any, service: Any, clock: FrozenClock
) -> None:
    key = DpopKey.generate(clock=clock)
    token = bind(service, login(api, alice)["access"], key)
    response = api.get("/drf/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('DPoP realm="jwtwarden"')
