"""The jwtwarden HTTP server: ``create_app(service, settings)`` builds the
ASGI app (Starlette); ``jwtwarden serve`` runs it on uvicorn.

Needs the ``[server]`` extra: ``pip install 'jwtwarden[server]'``.
"""

from .app import create_app

__all__ = ["create_app"]
