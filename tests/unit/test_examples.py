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
        "hello 42 ('editor',) pro",
        "reuse detected, session revoked",
        "the child access token is dead too",
    ]


def test_the_readme_shows_the_tour_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text()
    tour = (ROOT / "examples" / "tour.py").read_text().split('"""\n\n', 1)[1]
    shown = tour.replace(
        'if __name__ == "__main__":\n    asyncio.run(main())', "asyncio.run(main())"
    )
    assert f"```python\n{shown}```" in readme
