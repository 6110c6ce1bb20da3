"""The token endpoints answer in simplejwt's shapes, with both Django's test
client and DRF's APIClient: obtain, refresh (always rotated, reuse kills the
session), blacklist, verify; and every refusal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from jwtwarden import FrozenClock

from .conftest import PASSWORD, login, post, refresh, verify

CLIENTS = {"django": Client, "drf": APIClient}
TOKEN_NOT_VALID = {"detail": "Token is invalid or expired", "code": "token_not_valid"}


@pytest.fixture(params=sorted(CLIENTS))
def client(request: pytest.FixtureRequest) -> Any:
    return CLIENTS[request.param]()


@pytest.fixture(params=["/api/token/", "/plain-api/token/"], ids=["drf-views", "plain-views"])
def base(request: pytest.FixtureRequest) -> str:
    """Where the endpoints are: DRF views (DRF installed) or plain ones."""
    return str(request.param)


def test_obtain_answers_a_pair_for_the_projects_own_user(
    client: Any, base: str, alice: Any
) -> None:
    pair = login(client, alice, base=base)
    assert set(pair) == {"access", "refresh"}
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    body = me.get("/drf/me").json()
    assert body["user"] == "alice@example.test" and body["sub"] == str(alice.pk)


def test_obtain_takes_form_encoded_credentials_too(base: str, alice: Any) -> None:
    response = Client().post(base, {"email": alice.email, "password": PASSWORD})
    assert response.status_code == 200 and set(response.json()) == {"access", "refresh"}


@pytest.mark.parametrize(
    "data",
    [
        {"email": "alice@example.test", "password": "wrong password"},
        {"email": "nobody@example.test", "password": PASSWORD},
    ],
    ids=["wrong-password", "unknown-user"],
)
def test_bad_credentials_are_simplejwts_401(
    client: Any, base: str, alice: Any, data: dict[str, str]
) -> None:
    response = post(client, base, data)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "No active account found with the given credentials",
        "code": "no_active_account",
    }
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_inactive_user_cannot_log_in(client: Any, base: str, alice: Any) -> None:
    alice.is_active = False
    alice.save()
    assert post(client, base, {"email": alice.email, "password": PASSWORD}).status_code == 401


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"password": PASSWORD}, {"email": ["This field is required."]}),
        ({"email": "a@example.test"}, {"password": ["This field is required."]}),
        (
            {"email": "a@example.test", "password": "x" * 2000},
            {"password": ["Ensure this field has no more than 1024 characters."]},
        ),
    ],
    ids=["no-username", "no-password", "huge-password"],
)
def test_missing_or_oversized_fields_are_400(
    client: Any, base: str, data: Any, errors: Any
) -> None:
    response = post(client, base, data)
    assert (response.status_code, response.json()) == (400, errors)


def test_refresh_always_rotates_and_a_replayed_token_kills_the_session(
    client: Any, base: str, alice: Any
) -> None:
    first = login(client, alice, base=base)
    second = refresh(client, first["refresh"], base).json()
    assert set(second) == {"access", "refresh"} and second["refresh"] != first["refresh"]
    replay = refresh(client, first["refresh"], base)
    assert (replay.status_code, replay.json()) == (401, TOKEN_NOT_VALID)
    # The thief's replay ended the session: the legitimate child is dead too.
    assert refresh(client, second["refresh"], base).status_code == 401
    assert verify(client, second["access"], base) == 401


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 9000],
    ids=["empty", "garbage", "three-parts", "alg-none-jwt", "huge"],
)
def test_a_bad_refresh_token_is_refused(client: Any, base: str, token: str) -> None:
    response = refresh(client, token, base)
    assert response.status_code in (400, 401)
    if response.status_code == 401:
        assert response.json() == TOKEN_NOT_VALID


def test_blacklist_ends_the_session(client: Any, base: str, alice: Any) -> None:
    pair = login(client, alice, base=base)
    response = post(client, f"{base}blacklist/", {"refresh": pair["refresh"]})
    assert (response.status_code, response.json()) == (200, {})
    assert refresh(client, pair["refresh"], base).status_code == 401
    assert verify(client, pair["access"], base) == 401
    again = post(client, f"{base}blacklist/", {"refresh": "not-a-token"})
    assert (again.status_code, again.json()) == (401, TOKEN_NOT_VALID)


def test_verify_checks_signature_expiry_and_revocation(
    client: Any, base: str, alice: Any, clock: FrozenClock
) -> None:
    pair = login(client, alice, base=base)
    assert post(client, f"{base}verify/", {"token": pair["access"]}).json() == {}
    assert verify(client, pair["refresh"], base) == 401
    assert verify(client, pair["access"][:-4] + "AAAA", base) == 401
    clock.advance(301)
    assert verify(client, pair["access"], base) == 401


def test_only_post_is_allowed(client: Any, base: str) -> None:
    assert client.get(base).status_code == 405


def test_failed_logins_are_throttled_the_right_password_too(
    client: Any, base: str, alice: Any, clock: FrozenClock
) -> None:
    wrong = {"email": alice.email, "password": "wrong password"}
    for _ in range(5):
        assert post(client, base, wrong).status_code == 401
    right = post(client, base, {"email": alice.email, "password": PASSWORD})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
    assert right.json()["detail"].startswith("Request was throttled.")
    clock.advance(901)
    assert set(login(client, alice, base=base)) == {"access", "refresh"}


def test_a_user_banned_in_jwtwarden_cannot_log_in(
    client: Any, base: str, alice: Any, service: Any, clock: FrozenClock
) -> None:
    login(client, alice, base=base)
    service.ban(str(alice.pk), until=clock.now() + 3600)
    response = post(client, base, {"email": alice.email, "password": PASSWORD})
    assert (response.status_code, response.json()["code"]) == (401, "no_active_account")
