"""The public API is exactly what ``__all__`` names (httpx's test of the
same name), and the verifier stays free of stores."""

from __future__ import annotations

import subprocess
import sys

import jwtwarden


def test_all_names_every_public_member() -> None:
    public = {name for name in dir(jwtwarden) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(jwtwarden, name)).__name__ == "module"}
    assert set(jwtwarden.__all__) - {"__version__"} == public - modules


def test_importing_the_verifier_loads_no_store_backend() -> None:
    code = (
        "import sys, jwtwarden.verifier; "
        "bad = [m for m in sys.modules if m.startswith(('jwtwarden.stores.', 'sqlite3'))"
        " and m != 'jwtwarden.stores.base']; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
