"""The resource-server side: verify access tokens locally, revocations
included, with no store and no network call per request.

Framework integrations live beside it and import their framework lazily:
``jwtwarden.verifier.asgi`` (plain ASGI / Starlette), ``.fastapi``,
``.django`` (middleware and a DRF authentication class) and ``.flask``.
"""

from .verifier import Verifier, require_roles, token_from_headers

__all__ = ["Verifier", "require_roles", "token_from_headers"]
