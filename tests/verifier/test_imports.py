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


# A resource server never pulls in the auth server (issue 8, DESIGN): no store,
# no service, no server, none of the server extra's libraries, and none of our
# modules that need fcntl, which Windows lacks. (The standard library's
# asyncio loads fcntl on POSIX itself, so fcntl is tested by hiding it below.)
AUTH_SERVER = (
    "jwtwarden.stores",
    "jwtwarden.service",
    "jwtwarden.server",
    "jwtwarden.bootstrap",
    "jwtwarden.cli",
    "jwtwarden.keysource",  # the key file lock (fcntl)
    "jwtwarden.passwords",
    "jwtwarden.settings",
    "argon2",
    "pydantic_settings",
    "pydantic",
    "click",
    "sqlite3",
)
#: The framework each integration module imports (what it may bring itself).
INTEGRATIONS = {
    "jwtwarden": None,
    "jwtwarden.verifier": None,
    "jwtwarden.verifier.asgi": None,
    "jwtwarden.verifier.fastapi": "fastapi",
    "jwtwarden.verifier.django": "django.conf",
    "jwtwarden.verifier.flask": "flask",
}


def modules_after(statement: str, *, hide: tuple[str, ...] = ()) -> set[str]:
    """The top-level-or-jwtwarden names in ``sys.modules`` after ``statement``,
    run in a fresh interpreter with the modules in ``hide`` made unimportable."""
    hidden = "".join(f"sys.modules[{name!r}] = None; " for name in hide)
    code = f"import sys; {hidden}{statement}; print('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return {m for m in result.stdout.split() if m not in hide}


def auth_server_modules(modules: set[str]) -> set[str]:
    return {
        m for m in modules if m in AUTH_SERVER or m.startswith(tuple(p + "." for p in AUTH_SERVER))
    }


@pytest.mark.parametrize("module", list(INTEGRATIONS))
def test_a_resource_server_import_loads_none_of_the_auth_server(module: str) -> None:
    loaded = auth_server_modules(modules_after(f"import {module}"))
    framework = INTEGRATIONS[module]
    if framework is not None:
        # fastapi brings pydantic and flask brings click themselves: only
        # what the framework alone does not load counts against us.
        loaded -= auth_server_modules(modules_after(f"import {framework}"))
    assert loaded == set()


def test_the_lazy_exports_load_the_auth_server_only_when_asked() -> None:
    assert "jwtwarden.service" not in modules_after("import jwtwarden; jwtwarden.Verifier")
    assert "jwtwarden.service" in modules_after("from jwtwarden import TokenService")


@pytest.mark.parametrize(
    "statement",
    [
        "import jwtwarden",
        "from jwtwarden import Verifier, RevocationView, InvalidTokenError",
        "import jwtwarden.verifier",
        "from jwtwarden.verifier.asgi import VerifierMiddleware",
        "from jwtwarden.verifier.fastapi import RequireToken",
        "from jwtwarden.verifier.django import JwtWardenMiddleware",
        "from jwtwarden.verifier.flask import JwtWarden",
        "import jwtwarden.keysource",
        "from jwtwarden import TokenService, Settings, open_store",
        "import asyncio, jwtwarden as j; asyncio.run(j.TokenService.open(j.Settings(store='memory://')))",
    ],
)
def test_the_package_imports_where_fcntl_does_not_exist(statement: str) -> None:
    assert "fcntl" not in modules_after(statement, hide=("fcntl",))


def test_without_fcntl_a_key_file_is_a_clear_configuration_error() -> None:
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "from jwtwarden import ConfigurationError\n"
        "from jwtwarden.keysource import FileKeySource\n"
        "try:\n"
        "    FileKeySource('keys.json')\n"
        "except ConfigurationError as exc:\n"
        "    print(exc.detail or exc.description)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "fcntl" in result.stdout and "JWTWARDEN_MASTER_KEY" in result.stdout
