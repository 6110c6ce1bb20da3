"""The Django app's tests run in a pytest process of their own per database
(``test_app.py`` starts them), because Django is configured once per process
and the verifier tests configure it their way; here, ``suite/`` is collected
only inside those processes."""

from __future__ import annotations

import os

collect_ignore = [] if os.environ.get("JWTWARDEN_DJANGO_SUITE") else ["suite"]
