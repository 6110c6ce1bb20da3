"""The test project on the shared PostgreSQL server: Django's test runner
creates ``test_<NAME>`` (NAME unique per run, from the suite runner) and
drops it at the end; jwtwarden's tables are in its ``jwtwarden`` schema."""

from __future__ import annotations

import os

from .settings_base import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("JWTWARDEN_DJANGO_DB", "jwtwarden_django"),
        "USER": os.environ.get("JWTWARDEN_DJANGO_PGUSER", "postgres"),
        "HOST": os.environ.get("JWTWARDEN_DJANGO_PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("JWTWARDEN_DJANGO_PGPORT", "5432"),
    }
}
