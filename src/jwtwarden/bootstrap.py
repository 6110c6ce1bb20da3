"""Settings -> the parts a TokenService is made of: store, keys, policy,
password hasher.

The one place that knows which store, key source and hasher the settings
name (fosite's ``compose``). It knows nothing of the service:
``TokenService.open`` and ``TokenService.from_settings`` call it, so the
arrow goes one way, service -> bootstrap -> stores, keysource, passwords.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .core.policy import Policy
from .keysource import EphemeralKeySource, FileKeySource, KeyManager, KeySource, StoreKeySource
from .passwords import Passwords
from .stores import open_store
from .stores.base import Store
from .stores.memory import MemoryStore

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["Parts", "key_source", "parts_from"]


@dataclass(frozen=True, slots=True)
class Parts:
    """Everything a service is built from, but the clock and event sink."""

    store: Store
    keys: KeyManager
    policy: Policy
    passwords: Passwords


def parts_from(settings: Settings) -> Parts:
    """The store, keys and hasher ``settings`` name. The store is opened but
    not yet used; the keys load when the service starts."""
    policy = settings.to_policy()
    store = open_store(settings.store, policy, breaker=settings.to_breaker_policy())
    keys = KeyManager(
        key_source(settings, store), policy.algorithm, keep_retired_for=policy.revocation_horizon
    )
    passwords = Passwords(
        settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism
    )
    return Parts(store, keys, policy, passwords)


def key_source(settings: Settings, store: Store) -> KeySource:
    """Sealed in the store with a master key; in memory for ``memory://``;
    else the key file."""
    if settings.master_key is not None:
        return StoreKeySource(store, settings.master_key.get_secret_value())
    if isinstance(store, MemoryStore):
        return EphemeralKeySource()
    return FileKeySource(settings.key_file)
