"""Moving from simplejwt without logging anyone out: tokens issued by
simplejwt's own view before the switch are traded once for jwtwarden
tokens, blacklisted in simplejwt's table; forged, expired, blacklisted and
already-traded ones are refused, and nothing is off by default."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from jwtwarden.django.models import MigratedRefreshToken

from .conftest import PASSWORD, post, refresh, verify


@pytest.fixture
def migrating(settings: SettingsWrapper) -> None:
    settings.JWTWARDEN = {**settings.JWTWARDEN, "SIMPLEJWT_MIGRATION": True}


def simplejwt_login(api: APIClient, user: Any) -> dict[str, str]:
    """A pair from simplejwt's own TokenObtainPairView: the "before"."""
    response = post(api, "/simplejwt/token/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


def test_without_the_setting_a_simplejwt_token_is_refused(api: APIClient, alice: Any) -> None:
    old = simplejwt_login(api, alice)
    assert refresh(api, old["refresh"]).status_code == 401
    assert not BlacklistedToken.objects.exists()


@pytest.mark.usefixtures("migrating")
def test_a_simplejwt_refresh_token_is_traded_once_for_jwtwarden_tokens(
    api: APIClient, alice: Any, service: Any
) -> None:
    old = simplejwt_login(api, alice)
    response = refresh(api, old["refresh"])
    assert response.status_code == 200
    new = response.json()
    assert service.verify(new["access"]).sub == str(alice.pk)
    assert verify(api, new["access"]) == 200
    jti = RefreshToken(old["refresh"], verify=False)["jti"]
    assert BlacklistedToken.objects.filter(token__jti=jti).exists()
    # Once: the same simplejwt token again is refused, and the new session
    # is a jwtwarden one that rotates like any other.
    assert refresh(api, old["refresh"]).status_code == 401
    assert refresh(api, new["refresh"]).status_code == 200


@pytest.mark.usefixtures("migrating")
def test_once_holds_without_simplejwts_blacklist_too(
    api: APIClient, alice: Any, settings: SettingsWrapper
) -> None:
    old = simplejwt_login(api, alice)
    BlacklistedToken.objects.all().delete()
    settings.INSTALLED_APPS = [
        a for a in settings.INSTALLED_APPS if a != "rest_framework_simplejwt.token_blacklist"
    ]
    assert refresh(api, old["refresh"]).status_code == 200
    assert refresh(api, old["refresh"]).status_code == 401
    assert MigratedRefreshToken.objects.count() == 1


@pytest.mark.usefixtures("migrating")
def test_a_token_simplejwt_blacklisted_itself_is_refused(api: APIClient, alice: Any) -> None:
    old = simplejwt_login(api, alice)
    RefreshToken(old["refresh"]).blacklist()
    assert refresh(api, old["refresh"]).status_code == 401


@pytest.mark.usefixtures("migrating")
def test_forged_expired_and_access_tokens_are_refused(api: APIClient, alice: Any) -> None:
    import jwt

    old = simplejwt_login(api, alice)
    claims = RefreshToken(old["refresh"]).payload
    forged = jwt.encode({**claims, "jti": "forged"}, "another-key-of-enough-length-32b", "HS256")
    expired = RefreshToken.for_user(alice)
    expired.set_exp(from_time=dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    for token in (forged, str(expired), old["access"]):
        assert refresh(api, token).status_code == 401
    assert not MigratedRefreshToken.objects.exists()


@pytest.mark.usefixtures("migrating")
def test_an_inactive_users_simplejwt_token_is_refused(api: APIClient, alice: Any) -> None:
    old = simplejwt_login(api, alice)
    alice.is_active = False
    alice.save()
    assert refresh(api, old["refresh"]).status_code == 401
    assert not MigratedRefreshToken.objects.exists()


@pytest.mark.usefixtures("migrating")
def test_blacklisting_a_simplejwt_token_during_the_migration(api: APIClient, alice: Any) -> None:
    old = simplejwt_login(api, alice)
    assert post(api, "/api/token/blacklist/", {"refresh": old["refresh"]}).status_code == 200
    assert refresh(api, old["refresh"]).status_code == 401
