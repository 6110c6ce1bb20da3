"""The ``jwtwarden`` command.

It needs the ``[server]`` extra (click, argon2, pydantic-settings). This
module imports none of them, so that without it the command says which extra
to install instead of failing with a traceback (httpx does the same for its
command line client).
"""

from __future__ import annotations

import sys

__all__ = ["run"]

#: What the command imports that only the ``[server]`` extra installs.
_SERVER_EXTRA = frozenset(
    {"argon2", "click", "pydantic", "pydantic_core", "pydantic_settings", "starlette", "uvicorn"}
)


def run() -> None:
    """The console script: ``jwtwarden ...`` and ``python -m jwtwarden ...``."""
    try:
        from .main import main
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _SERVER_EXTRA:
            raise
        sys.exit(
            f"jwtwarden: the command needs the server extra ({missing} is not installed): "
            "pip install 'jwtwarden[server]'"
        )
    main()
