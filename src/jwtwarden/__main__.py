"""``python -m jwtwarden`` is the ``jwtwarden`` command."""

from .cli.main import main

main()
