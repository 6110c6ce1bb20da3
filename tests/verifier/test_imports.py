"""Each integration imports only its own framework, and only when it is
imported itself: ``jwtwarden.verifier`` needs none of them, nor httpx."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMEWORKS = ("fastapi", "starlette", "django", "rest_framework", "flask", "httpx")


def loaded_after(statement: str) -> set[str]:
    code = (
        f"import sys; {statement}; print(' '.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_verifier_imports_no_framework_and_no_http_client() -> None:
    assert loaded_after("import jwtwarden.verifier, jwtwarden.verifier.asgi") == set()


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("flask", {"flask"}),
        ("django", {"django"}),
        ("fastapi", {"fastapi", "starlette"}),
    ],
)
def test_an_integration_imports_only_its_framework(module: str, allowed: set[str]) -> None:
    assert loaded_after(f"import jwtwarden.verifier.{module}") <= allowed
