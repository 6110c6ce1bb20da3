"""The example apps protect their routes as they say, each given a
verifier on static keys instead of the JWKS URL they use by default."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from jwtwarden import Verifier

from .apps import Answer, Get, asgi_get, configure_django
from .conftest import Minted


def starlette_example(verifier: Verifier) -> Get:
    from examples.starlette_app import create_app

    return asgi_get(create_app(verifier))


def fastapi_example(verifier: Verifier) -> Get:
    from examples.fastapi_app import create_app

    return asgi_get(create_app(verifier))


def flask_example(verifier: Verifier) -> Get:
    from examples.flask_app import create_app

    client = create_app(verifier).test_client()

    def get(path: str, headers: dict[str, str]) -> Answer:
        response = client.get(path, headers=headers)
        return Answer(response.status_code, dict(response.headers), response.get_json())

    return get


def django_example(verifier: Verifier) -> Get:
    from django.test import Client, override_settings

    configure_django()

    def get(path: str, headers: dict[str, str]) -> Answer:
        urls = "examples.django_app.urls"
        with override_settings(ROOT_URLCONF=urls, JWTWARDEN_VERIFIER=verifier):
            response = Client().get(path, headers=headers, secure=True)
        return Answer(response.status_code, dict(response.headers), json.loads(response.content))

    return get


EXAMPLES: dict[str, Callable[[Verifier], Get]] = {
    "starlette": starlette_example,
    "fastapi": fastapi_example,
    "flask": flask_example,
    "django": django_example,
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_protects_its_routes(name: str, minted: Minted) -> None:
    get = EXAMPLES[name](minted.verifier)
    alice = {"authorization": f"Bearer {minted.alice}"}
    root = {"authorization": f"Bearer {minted.root}"}
    assert get("/healthz", {}).status == 200
    assert get("/me", {}).status == 401
    assert get("/me", alice).body["roles"] == ["user"]
    assert get("/admin/report", alice).status == 403
    assert get("/admin/report", root).body["report"] == "for admins"


def test_the_django_example_drf_view_needs_the_admin_role(minted: Minted) -> None:
    get = django_example(minted.verifier)
    assert get("/api/admin/sessions", {}).status == 401
    assert get("/api/admin/sessions", {"authorization": f"Bearer {minted.alice}"}).status == 403
    answer = get("/api/admin/sessions", {"authorization": f"Bearer {minted.root}"})
    assert answer.status == 200 and answer.body["roles"] == ["admin"]


def test_the_django_example_settings_name_its_verifier() -> None:
    from django.utils.module_loading import import_string
    from examples.django_app import settings

    assert isinstance(import_string(settings.JWTWARDEN_VERIFIER), Verifier)
