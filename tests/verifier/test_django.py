"""Django specifics: the setting naming the verifier, the middleware
annotating public pages, and the DRF authentication class."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from jwtwarden.errors import ConfigurationError
from jwtwarden.verifier.credentials import ACCESS_COOKIE

from .apps import configure_django
from .conftest import Minted

configure_django()

#: Named by dotted path in a test below.
VERIFIER = None


def get(path: str, verifier: object, **headers: str) -> tuple[int, dict[str, str], object]:
    with override_settings(JWTWARDEN_VERIFIER=verifier):
        response = Client().get(path, headers=headers, secure=True)
    lowered = {k.lower(): v for k, v in response.headers.items()}
    return response.status_code, lowered, json.loads(response.content or b"null")


def test_the_setting_may_name_the_verifier_by_dotted_path(
    minted: Minted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.VERIFIER", minted.verifier)
    status, _, body = get("/me", f"{__name__}.VERIFIER", authorization=f"Bearer {minted.alice}")
    assert status == 200 and body["roles"] == ["user"]  # type: ignore[index]


def test_a_missing_verifier_setting_is_a_configuration_error(minted: Minted) -> None:
    with pytest.raises(ConfigurationError):
        get("/me", None)


def test_a_stale_cookie_does_not_break_a_public_page(minted: Minted) -> None:
    cookie = f"{ACCESS_COOKIE}={minted.alice}"
    assert get("/public", minted.verifier, cookie=cookie)[2] == {
        "public": True,
        "sub": minted.verifier.verify(minted.alice).sub,
    }
    minted.expire()
    status, _, body = get("/public", minted.verifier, cookie=cookie)
    assert (status, body) == (200, {"public": True, "sub": None})


def test_drf_authenticates_a_valid_token_as_a_claims_user(minted: Minted) -> None:
    status, _, body = get("/drf/me", minted.verifier, authorization=f"Bearer {minted.alice}")
    sub = minted.verifier.verify(minted.alice).sub
    assert (status, body) == (200, {"sub": sub, "roles": ["user"], "user": sub})


def test_drf_answers_401_with_the_bearer_challenge(minted: Minted) -> None:
    status, headers, _ = get("/drf/me", minted.verifier)
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    minted.deny(minted.alice)
    status, headers, body = get("/drf/me", minted.verifier, authorization=f"Bearer {minted.alice}")
    assert status == 401 and "revoked" in headers["www-authenticate"]
    assert body == {"detail": "The access token has been revoked."}


def test_drf_roles_are_checked_by_has_roles(minted: Minted) -> None:
    assert get("/drf/admin", minted.verifier, authorization=f"Bearer {minted.alice}")[0] == 403
    assert get("/drf/admin", minted.verifier, authorization=f"Bearer {minted.root}")[0] == 200


def test_drf_is_admin_user_reads_the_roles_of_a_claims_user(minted: Minted) -> None:
    # Once an AttributeError (ClaimsUser had no is_staff): a 500.
    assert get("/drf/staff", minted.verifier, authorization=f"Bearer {minted.alice}")[0] == 403
    status, _, body = get("/drf/staff", minted.verifier, authorization=f"Bearer {minted.root}")
    assert (status, body) == (200, {"staff": True, "superuser": True})


def test_a_claims_user_answers_what_djangos_users_answer(minted: Minted) -> None:
    from jwtwarden.verifier.django import ClaimsUser

    user = ClaimsUser(minted.verifier.verify(minted.root))
    assert user.is_authenticated and not user.is_anonymous and user.is_active
    assert user.has_perm("app.anything") and user.has_module_perms("app")
    assert user.get_username() == user.pk and user.get_all_permissions() == set()
    alice = ClaimsUser(minted.verifier.verify(minted.alice))
    assert not (alice.is_staff or alice.is_superuser or alice.has_perm("app.anything"))
