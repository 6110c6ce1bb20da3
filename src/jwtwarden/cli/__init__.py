"""The ``jwtwarden`` command."""
