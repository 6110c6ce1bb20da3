"""The resource-server side: verify access tokens locally, revocations
included, with no store and no network call per request."""

from .verifier import Verifier

__all__ = ["Verifier"]
