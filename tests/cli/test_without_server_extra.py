"""Without the ``[server]`` extra the ``jwtwarden`` command says which extra
to install, in one line, instead of a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("missing", ["click", "argon2", "pydantic_settings"])
def test_the_command_names_the_missing_extra(missing: str) -> None:
    code = (
        f"import runpy, sys; sys.modules[{missing!r}] = None; sys.argv = ['jwtwarden', '--help']; "
        "runpy.run_module('jwtwarden', run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"jwtwarden: the command needs the server extra ({missing} is not installed): "
        "pip install 'jwtwarden[server]'"
    ]


def test_the_console_script_entry_point_is_importable_without_the_extra() -> None:
    code = "import sys; sys.modules['click'] = None; from jwtwarden.cli import run; print(run)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
