"""Run the browser client's unit tests (clients/js, ``node --test``) from
pytest, so CI runs them. It needs only node, no packages: without it the
test skips locally and fails under ``CI=true`` (the ``node`` marker), as does
a Node test the runner skipped."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "js"


@pytest.mark.node
def test_browser_client_suite_passes() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed for the browser client's tests")
    tests = sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "test").glob("*.test.js"))
    result = subprocess.run(
        [node, "--test", *tests],
        cwd=PACKAGE,
        env={**os.environ, "NODE_OPTIONS": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped|todo|cancelled) (\d+)$", output, re.M))
    assert int(counts.get("tests", 0)) >= 20, output[-5_000:]
    assert counts.get("fail") == "0" and counts.get("cancelled") == "0", output[-20_000:]
    assert counts.get("skipped") == "0" and counts.get("todo") == "0", output[-5_000:]


def test_the_server_serves_the_client_itself() -> None:
    """One copy of the client: the page's ``/account/jwtwarden.js`` is
    clients/js/jwtwarden.js (a symbolic link in the package's static folder,
    whose bytes a wheel carries)."""
    served = PACKAGE.parents[1] / "src" / "jwtwarden" / "server" / "static" / "account"
    assert (served / "jwtwarden.js").read_bytes() == (PACKAGE / "jwtwarden.js").read_bytes()
