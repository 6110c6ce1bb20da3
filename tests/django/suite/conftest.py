"""Fixtures of the jwtwarden.django suite (run by ``tests/django/test_app.py``
under pytest-django): every test is transactional, because jwtwarden's store
writes on its own connections and Django's signals act on commit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from jwtwarden import FrozenClock
from jwtwarden.django.service import get_service
from tests.django.project.clock import CLOCK

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _transactional(transactional_db: None) -> Iterator[None]:
    yield
    # jwtwarden's tables outlive Django's flush: the next test starts after
    # this one's failed-login window.
    CLOCK.advance(901)


@pytest.fixture
def clock() -> FrozenClock:
    return CLOCK


@pytest.fixture
def service() -> Any:
    return get_service()


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice@example.test", PASSWORD)


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff@example.test", PASSWORD, is_staff=True)


@pytest.fixture
def root(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root@example.test", PASSWORD)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def plain() -> Client:
    return Client(enforce_csrf_checks=True)


def post(client: Any, path: str, data: dict[str, Any]) -> Any:
    """A JSON POST, with either test client."""
    if isinstance(client, APIClient):
        return client.post(path, data, format="json")
    return client.post(path, data, content_type="application/json")


def login(
    client: Any, user: Any, password: str = PASSWORD, base: str = "/api/token/"
) -> dict[str, str]:
    """``{"access", "refresh"}`` of a new session of ``user``."""
    response = post(client, base, {"email": user.email, "password": password})
    assert response.status_code == 200, response.content
    body: dict[str, str] = response.json()
    return body


def refresh(client: Any, token: str, base: str = "/api/token/") -> Any:
    return post(client, f"{base}refresh/", {"refresh": token})


def verify(client: Any, token: str, base: str = "/api/token/") -> int:
    return int(post(client, f"{base}verify/", {"token": token}).status_code)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, each transactional test's flush costs ~0.4 s: run the
    endpoint table with one test client there (both run on SQLite; the
    client makes no difference to the database)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    kept = [item for item in items if "[django-" not in item.nodeid]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept
