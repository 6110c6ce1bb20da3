"""TokenService: where the rules, the tokens, the store and the clock meet.

The service is ``async``: the server is ASGI and the scale-out stores have
async drivers. From synchronous code, run a call with ``asyncio.run`` (the
CLI does). One service may be shared by several threads and event loops.

Each operation reads the clock once, so ``iat``, ``exp`` and the stored record
agree. The core decides (``decide_rotation``, ``revocation_cause``); the
service applies the decision to the store and emits an event.

One class, in parts: ``base.py`` (construction, verification, events,
housekeeping), ``accounts.py`` (users, bans, roles, passwords),
``clients.py`` (resource-server credentials, introspection) and
``service.py`` (login, rotation, revocation, keys).
"""

from .base import TokenPair
from .service import TokenService

__all__ = ["TokenPair", "TokenService"]
