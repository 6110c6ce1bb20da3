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


def test_the_django_example_settings_name_its_verifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.utils.module_loading import import_string
    from examples.django_app import settings

    monkeypatch.setenv("JWTWARDEN_ISSUER", "http://127.0.0.1:9")
    monkeypatch.setenv("JWTWARDEN_REVOCATIONS", "off")
    verifier = import_string(settings.JWTWARDEN_VERIFIER)
    assert isinstance(verifier, Verifier)
    verifier.close()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_answers_503_not_401_while_revocations_are_unknown(
    name: str, minted: Minted
) -> None:
    """A feed silent past max_staleness is the operator's problem: the
    client keeps its token and retries, and readiness says so."""
    from jwtwarden.verifier.feed import RevocationFeed

    feed = RevocationFeed(
        "http://127.0.0.1:9/revocations", client_id="x", client_secret="y", view=minted.view
    )
    minted.verifier.feed = feed  # never started: it has heard nothing
    get = EXAMPLES[name](minted.verifier)
    answer = get("/me", {"authorization": f"Bearer {minted.alice}"})
    headers = {k.lower(): v for k, v in answer.headers.items()}
    assert answer.status == 503 and int(headers["retry-after"]) >= 1
    assert answer.body["error"] == "temporarily_unavailable"
    if name != "django":  # Django's readiness goes through its settings' verifier
        assert get("/readyz", {}).status == 503
    # A token that is bad whatever the revocations is still the client's 401.
    assert get("/me", {"authorization": "Bearer not.a.token"}).status == 401
    feed.fresh_at = float("inf")  # heard from just now
    assert get("/me", {"authorization": f"Bearer {minted.alice}"}).status == 200
    assert get("/me", {"authorization": "Bearer not.a.token"}).status == 401
