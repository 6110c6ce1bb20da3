"""Building a TokenService from Settings: store, key source, hasher."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .clock import Clock
from .keysource import EphemeralKeySource, FileKeySource, KeyManager, KeySource, StoreKeySource
from .passwords import Passwords
from .stores import open_store
from .stores.memory import MemoryStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from .events import Event
    from .service import TokenService
    from .settings import Settings

__all__ = ["open_service"]


async def open_service(
    cls: type[TokenService],
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_event: Callable[[Event], None] | None = None,
    **kwargs: Any,
) -> TokenService:
    """A started service on the store and keys ``settings`` name."""
    service = build_service(cls, settings, clock=clock, on_event=on_event, **kwargs)
    try:
        await service.start()
    except BaseException:
        await service.store.close()
        raise
    return service


def build_service(
    cls: type[TokenService],
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_event: Callable[[Event], None] | None = None,
    **kwargs: Any,
) -> TokenService:
    """A service on the store and keys ``settings`` name, not yet started
    (its keys load on ``start()``)."""
    store = open_store(settings.store)
    source: KeySource
    if settings.master_key is not None:
        source = StoreKeySource(store, settings.master_key.get_secret_value())
    elif isinstance(store, MemoryStore):
        source = EphemeralKeySource()
    else:
        source = FileKeySource(settings.key_file)
    policy = settings.to_policy()
    keys = KeyManager(source, policy.algorithm, keep_retired_for=policy.revocation_horizon)
    passwords = Passwords(
        settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism
    )
    return cls(store, keys, policy, passwords=passwords, clock=clock, on_event=on_event, **kwargs)
