"""Django's events drive revocation: password changes (set_password + save,
the admin's form, PasswordChangeView with update_session_auth_hash, a
change made inside a jwtwarden session, which survives), deactivation,
reactivation and deletion; a rolled-back change revokes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from jwtwarden import FrozenClock

from .conftest import PASSWORD, login, refresh, verify

NEW_PASSWORD = "a brand new password"


def alive(client: Any, pair: dict[str, str]) -> bool:
    return verify(client, pair["access"]) == 200


@pytest.fixture(autouse=True)
def _later(clock: FrozenClock) -> Any:
    """Each change comes a second after the logins before it: a cutoff at T
    kills the tokens issued before T, not those issued at T."""
    from django.db.models.signals import pre_delete, pre_save

    def tick(**kwargs: Any) -> None:
        clock.advance(1)

    pre_save.connect(tick, dispatch_uid="tick-save")
    pre_delete.connect(tick, dispatch_uid="tick-delete")
    yield
    pre_save.disconnect(dispatch_uid="tick-save")
    pre_delete.disconnect(dispatch_uid="tick-delete")


def test_set_password_and_save_ends_every_session(api: APIClient, alice: Any) -> None:
    one, two = login(api, alice), login(api, alice)
    alice.set_password(NEW_PASSWORD)
    alice.save()
    assert not alive(api, one) and not alive(api, two)
    assert refresh(api, one["refresh"]).status_code == 401
    assert alive(api, login(api, alice, NEW_PASSWORD))


def test_the_admins_password_form_ends_every_session(api: APIClient, alice: Any) -> None:
    pair = login(api, alice)
    form = AdminPasswordChangeForm(alice, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert form.is_valid(), form.errors
    form.save()
    assert not alive(api, pair)


def test_password_change_view_with_update_session_auth_hash(alice: Any) -> None:
    api, browser = APIClient(), Client()
    pair = login(api, alice)
    browser.force_login(alice)
    response = browser.post(
        "/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert not alive(api, pair)
    # update_session_auth_hash kept the Django session that made the change.
    assert browser.get("/plain/me").json()["user"] == "alice@example.test"


def test_a_change_made_in_a_jwtwarden_session_keeps_that_one(alice: Any) -> None:
    api = APIClient()
    other, current = login(api, alice), login(api, alice)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {current['access']}")
    assert (
        api.post("/drf/password", {"new_password": NEW_PASSWORD}, format="json").status_code == 200
    )
    assert alive(api, current) and not alive(api, other)
    assert refresh(api, current["refresh"]).status_code == 200


def test_saving_without_a_password_change_revokes_nothing(api: APIClient, alice: Any) -> None:
    pair = login(api, alice)
    alice.is_staff = True
    alice.save()
    assert alive(api, pair)


def test_a_rolled_back_password_change_revokes_nothing(api: APIClient, alice: Any) -> None:
    pair = login(api, alice)
    with pytest.raises(RuntimeError), transaction.atomic():
        alice.set_password(NEW_PASSWORD)
        alice.save()
        raise RuntimeError("rolled back")
    assert alive(api, pair)


def test_deactivation_refuses_refresh_and_kills_the_tokens(api: APIClient, alice: Any) -> None:
    pair = login(api, alice)
    alice.is_active = False
    alice.save()
    assert not alive(api, pair)
    assert refresh(api, pair["refresh"]).status_code == 401
    alice.is_active = True
    alice.save()
    assert not alive(api, pair)  # tokens from before stay dead
    assert alive(api, login(api, alice))


def test_deleting_a_user_ends_their_sessions(api: APIClient, alice: Any) -> None:
    pair = login(api, alice)
    alice.delete()
    assert not alive(api, pair)
    assert refresh(api, pair["refresh"]).status_code == 401


def test_a_user_without_tokens_may_change_and_go(alice: Any) -> None:
    alice.set_password(NEW_PASSWORD)
    alice.save()
    alice.is_active = False
    alice.save()
    alice.delete()
