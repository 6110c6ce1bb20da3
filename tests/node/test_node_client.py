"""Run the Node package's test suite (clients/node, ``node --test``) against
this checkout's ``jwtwarden`` command, so the README's one test command
(``pytest``) covers the Node verifier, its middleware and the examples.

Without node/npm or an installed ``clients/node/node_modules`` the test is
skipped locally; under ``CI=true`` that skip is a failure (the ``store``
marker hook in tests/conftest.py), as is a Node test the runner skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "node"


def _jwtwarden_bin() -> str:
    found = Path(sys.executable).with_name("jwtwarden")
    if found.exists():
        return str(found)
    on_path = shutil.which("jwtwarden")
    if on_path is None:
        pytest.skip("no jwtwarden executable beside the interpreter or on PATH")
    return on_path


@pytest.mark.store  # never skipped in CI: the hook turns a skip into a failure
def test_node_suite_passes(tmp_path: Path) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node client tests")
    if not (PACKAGE / "node_modules").is_dir():
        pytest.skip("run `npm ci` in clients/node first")
    env = {
        **os.environ,
        "JWTWARDEN_BIN": _jwtwarden_bin(),
        "TMPDIR": str(tmp_path),
        "NODE_OPTIONS": "",
    }
    result = subprocess.run(
        [npm, "test", "--silent"],
        cwd=PACKAGE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped|todo|cancelled) (\d+)$", output, re.M))
    assert int(counts.get("tests", 0)) > 0, output[-5_000:]
    assert counts.get("fail") == "0" and counts.get("cancelled") == "0", output[-20_000:]
    if int(counts.get("skipped", 0)) or int(counts.get("todo", 0)):
        message = f"Node tests skipped: {counts}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
