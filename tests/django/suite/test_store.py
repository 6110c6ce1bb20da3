"""jwtwarden's tables live in the project's database (no second database
setting); a database they cannot share is refused clearly; the JWTWARDEN
setting is checked."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from jwtwarden.django.conf import options
from jwtwarden.django.database import _sqlite_url
from jwtwarden.errors import ConfigurationError

from .conftest import login


def test_sessions_are_rows_in_the_projects_database(api: APIClient, alice: Any) -> None:
    login(api, alice)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM jwtwarden.sessions WHERE sub = %s", [str(alice.pk)]
            )
        else:
            cursor.execute("SELECT count(*) FROM sessions WHERE sub = %s", [str(alice.pk)])
        assert cursor.fetchone()[0] == 1


@pytest.mark.parametrize("name", [":memory:", "file:memorydb_default?mode=memory&cache=shared"])
def test_an_in_memory_sqlite_database_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="in-memory"):
        _sqlite_url(name)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"ACCESS_TTL": 0}, "ACCESS_TTL"),
        ({"NO_SUCH_OPTION": 1}, "NO_SUCH_OPTION"),
        ({"USER": "robot"}, "USER"),
        ({"SCHEMA": "x; DROP TABLE y"}, "SCHEMA"),
        ({"ROLES": "no.such.function"}, "ROLES"),
    ],
    ids=["out-of-range", "unknown-key", "bad-user-mode", "bad-schema", "bad-import"],
)
def test_a_bad_setting_is_a_clear_configuration_error(
    settings: SettingsWrapper, setting: dict[str, Any], message: str
) -> None:
    settings.JWTWARDEN = {**settings.JWTWARDEN, **setting}
    with pytest.raises(ConfigurationError, match=message):
        options()
