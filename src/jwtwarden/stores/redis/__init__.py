"""The Redis store: the scale-out in-memory backend, on ``redis.asyncio``.

:class:`RedisStore` runs every multi-key step as one Lua script
(``scripts/*.lua``), keeps one client per event loop, detects a server that
lost its data, and takes its TTLs from the policy it is opened with. Its
design (key layout, atomic steps, the feed, Cluster, TTLs, durability, data
loss, connections) is in docs/stores.md.
"""

from .store import RedisStore

__all__ = ["RedisStore"]
