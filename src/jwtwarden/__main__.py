"""``python -m jwtwarden`` is the ``jwtwarden`` command."""

from .cli import run

run()
