"""``request.user`` and ``request.auth`` from a bearer token: DRF's
JWTAuthentication and the middleware for plain views. The user is the
project's own, loaded lazily; the claims-only user works with
IsAuthenticated and IsAdminUser (once a 500)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from jwtwarden.django.users import lazy_user

from .conftest import login


def bearer(client: Any, token: str) -> Any:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_drf_sets_the_real_user_and_the_claims(api: APIClient, alice: Any) -> None:
    pair = login(api, alice)
    body = bearer(api, pair["access"]).get("/drf/me").json()
    assert body == {"user": "alice@example.test", "staff": False, "sub": str(alice.pk), "roles": []}


def test_drf_without_a_token_is_401_and_with_a_bad_one_401_with_the_challenge(
    api: APIClient,
) -> None:
    assert api.get("/drf/me").status_code == 401
    response = bearer(api, "not.a.token").get("/drf/me")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_is_admin_user_works_with_the_project_users(api: APIClient, alice: Any, staff: Any) -> None:
    assert bearer(api, login(api, alice)["access"]).get("/drf/admin").status_code == 403
    assert bearer(api, login(api, staff)["access"]).get("/drf/admin").status_code == 200


def test_the_claims_only_user_passes_is_authenticated_and_is_admin_user(
    api: APIClient, alice: Any, staff: Any, root: Any, settings: SettingsWrapper
) -> None:
    settings.JWTWARDEN = {**settings.JWTWARDEN, "USER": "claims"}
    for user, admin_status in ((alice, 403), (staff, 200), (root, 200)):
        bearer(api, login(api, user)["access"])
        with CaptureQueriesContext(connection) as queries:
            me = api.get("/drf/me")
        assert me.status_code == 200 and me.json()["user"] == str(user.pk)
        assert len(queries) == 0  # no user row is read
        assert api.get("/drf/admin").status_code == admin_status


def test_the_user_is_loaded_only_when_used(api: APIClient, alice: Any, service: Any) -> None:
    claims = service.verify(login(api, alice)["access"])
    with CaptureQueriesContext(connection) as queries:
        user = lazy_user(claims, "model")
        assert len(queries) == 0
        assert user.email == "alice@example.test" and len(queries) == 1


def test_a_deleted_user_reads_as_anonymous(api: APIClient, alice: Any, service: Any) -> None:
    claims = service.verify(login(api, alice)["access"])
    alice.delete()
    assert lazy_user(claims, "model").is_authenticated is False


def test_the_middleware_sets_the_user_for_plain_views(plain: Client, alice: Any) -> None:
    pair = login(plain, alice)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {pair['access']}"}
    assert plain.get("/plain/me", **auth).json()["user"] == "alice@example.test"
    assert plain.get("/plain/me").json() == {
        "user": None,
        "staff": False,
        "sub": None,
        "roles": None,
    }
    assert plain.get("/plain/required", **auth).status_code == 200
    refused = plain.get("/plain/required")
    assert refused.status_code == 401 and "invalid_token" in refused.headers["WWW-Authenticate"]


def test_a_bearer_request_needs_no_csrf_token_but_a_cookie_session_does(
    plain: Client, alice: Any
) -> None:
    pair = login(plain, alice)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {pair['access']}"}
    assert (
        plain.post("/plain/password", {"new_password": "another long one"}, **auth).status_code
        == 200
    )
    plain.force_login(alice)
    assert plain.post("/plain/password", {"new_password": "a third long one"}).status_code == 403
