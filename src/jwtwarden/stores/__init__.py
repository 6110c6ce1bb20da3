"""Stores: one protocol, several backends, chosen by URL.

``memory://`` (tests), ``sqlite:///path`` (the embedded default; four slashes
for an absolute path), ``postgresql://…``, ``redis://…`` and
``redis+cluster://host:port[,host:port…]`` (the scale-out engines;
``pip install 'jwtwarden[postgres]'`` / ``'jwtwarden[redis]'``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..core.policy import Policy
from ..errors import ConfigurationError
from .base import RevocationFacts, Store
from .breaker import BreakerPolicy

__all__ = ["RevocationFacts", "Store", "open_store"]


def open_store(
    url: str, policy: Policy | None = None, *, breaker: BreakerPolicy | None = None
) -> Store:
    """The store a URL names, for a service judged by ``policy`` (default
    ``Policy()``): a store that sets TTLs on what it writes takes them from
    the policy it is opened with, never from the calls it happens to see.
    ``breaker`` says when a network store (PostgreSQL, Redis) counts as
    down and answers at once (:mod:`.breaker`).

    Raises :class:`~jwtwarden.errors.ConfigurationError` for an unknown or
    malformed URL. Only the chosen backend's module (and driver) is imported.
    """
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(policy=policy)
    if scheme == "sqlite":
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ConfigurationError(
                "a SQLite store URL is sqlite:///relative/path or sqlite:////abs/path"
            )
        from .sqlite import SqliteStore

        return SqliteStore(url[len(prefix) :], policy=policy)
    if scheme in ("postgresql", "postgres"):
        _require("psycopg", "postgres")
        from .postgres import PostgresStore

        return PostgresStore(url, policy=policy, breaker=breaker)
    if scheme in ("redis", "rediss", "redis+cluster"):
        _require("redis", "redis")
        from .redis import RedisStore

        return RedisStore(url, policy=policy, breaker=breaker)
    raise ConfigurationError(
        f"unknown store URL scheme {scheme!r}: use memory://, sqlite:///path, "
        "postgresql://…, redis://… or redis+cluster://…"
    )


def _require(module: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigurationError(
            f"this store needs the {module} driver: pip install 'jwtwarden[{extra}]'"
        )
