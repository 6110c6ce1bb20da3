"""The README's tour runs as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CHEAP_TEST_ARGON2

ROOT = Path(__file__).resolve().parents[2]


def test_the_tour_runs() -> None:
    env = {
        **os.environ,
        **{f"JWTWARDEN_ARGON2_{k.upper()}": str(v) for k, v in CHEAP_TEST_ARGON2.items()},
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tour.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "hello True ('admin',)",
        "reuse detected, session revoked",
        "the child access token is dead too",
    ]
