"""The test project on SQLite: a file (jwtwarden's connections cannot share
an in-memory database), in a directory the suite runner names."""

from __future__ import annotations

import os
from pathlib import Path

from .settings_base import *  # noqa: F403

_DIR = Path(os.environ.get("JWTWARDEN_DJANGO_TMP", "/tmp"))
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_DIR / "project.sqlite3"),
        "TEST": {"NAME": str(_DIR / "test_project.sqlite3")},
    }
}
