"""The Store protocol every backend satisfies, and its result types.

Backends do not inherit from :class:`Store`; the contract suite in
``tests/contract`` proves that one conforms. Stores report facts and the
core judges them. Each dangerous step is one store call: :meth:`Store.rotate`
is a compare-and-swap on the generation, so two refreshes racing with one
refresh token can never both rotate it (DESIGN property 1).

No usable token material is ever stored: sessions keep a generation and a
salt, the denylist keeps ``jti``s, and signing keys arrive as an encrypted
blob or not at all.

Capabilities that only some backends have are small protocols of their own,
checked with ``isinstance`` where they are used:
:class:`WaitsForRevocations` (a store that can push, so a follower need not
poll) and :class:`Migrates` (a store with a versioned schema the operator
upgrades with ``jwtwarden migrate``). A backend that has neither still passes
the contract suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core.clients import Client
from ..core.policy import Policy
from ..core.revocation import UserRevocation
from ..core.sessions import Session
from ..core.users import User
from ..core.view import RevocationEvent, RevocationSnapshot

__all__ = ["Migrates", "RevocationFacts", "Store", "WaitsForRevocations"]


@dataclass(frozen=True, slots=True)
class RevocationFacts:
    """What the store knows that bears on one access token."""

    jti_denied: bool
    session_revoked: bool
    user: UserRevocation
    #: Every token whose ``auth_time`` is before this is revoked: the store
    #: lost data (a Redis that came back empty) within the last access-token
    #: lifetime and cannot tell which tokens were denied.
    store_cutoff: float | None = None


class Store(Protocol):
    """Async, domain-named storage for users, sessions and revocations.

    Raises :class:`~jwtwarden.errors.StoreUnavailableError` when the backend
    cannot be reached; never reports "not revoked" on an error.
    """

    async def ping(self) -> None:
        """Raise unless the store answers."""

    async def close(self) -> None: ...

    # users
    async def create_user(self, user: User) -> None:
        """Add ``user``; :class:`~jwtwarden.errors.StoreConflictError` if the
        username (normalized) or ``sub`` is taken."""

    async def get_user(self, sub: str) -> User | None: ...

    async def find_user(self, username: str) -> User | None:
        """The user whose normalized username matches."""

    async def list_users(self) -> list[User]: ...

    async def set_password(
        self, sub: str, password_hash: str, cutoff_at: float | None, keep_sid: str | None
    ) -> bool:
        """New hash, and optionally a cutoff sparing ``keep_sid``; one write."""

    async def set_roles(self, sub: str, roles: tuple[str, ...], cutoff_at: float) -> bool:
        """New roles and a cutoff at ``cutoff_at``, in one write."""

    async def set_cutoff(self, sub: str, cutoff_at: float, keep_sid: str | None) -> bool:
        """Cutoff at ``cutoff_at``; a later cutoff is never moved back."""

    async def set_ban(self, sub: str, until: float, cutoff_at: float) -> bool:
        """Ban until ``until`` with a cutoff at ``cutoff_at``, in one write."""

    async def lift_ban(self, sub: str) -> bool:
        """End the ban; the cutoff it set stays."""

    # sessions
    async def create_session(self, session: Session) -> None: ...

    async def get_session(self, sid: str) -> tuple[Session, User] | None:
        """The session and its user, in one read; ``None`` if either is gone."""

    async def rotate(self, sid: str, expected_generation: int, now: float) -> Session | None:
        """Compare-and-swap: if the session is unrevoked and at
        ``expected_generation``, advance it by one, stamp ``rotated_at`` and
        ``last_used_at`` with ``now`` and return it; otherwise ``None``."""

    async def rotate_if_live(
        self, sid: str, expected_generation: int, now: float, idle_ttl: float
    ) -> tuple[Session, User] | None:
        """The happy path of a refresh, in one atomic step and one round trip:
        rotate (as :meth:`rotate`) only if the session is at
        ``expected_generation``, unrevoked, ``now < expires_at``,
        ``now - last_used_at < idle_ttl``, and its user exists, is not banned
        at ``now`` and no cutoff covers the session; return the rotated
        session and the user. Otherwise change nothing and return ``None``;
        the caller then reads and judges with the full rotation rule. These
        are exactly the conditions under which ``decide_rotation`` rotates a
        genuine current token (the contract suite checks the two agree)."""

    async def revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        """Mark the session revoked; return it if this call revoked it."""

    async def list_sessions(self, sub: str) -> list[Session]:
        """Every stored session of ``sub``, live or not; the core filters."""

    # access-token revocations
    async def deny_jti(self, jti: str, forget_at: float) -> None:
        """Deny one access token until ``forget_at`` (its expiry)."""

    async def revocation_facts(self, sub: str, sid: str, jti: str, now: float) -> RevocationFacts:
        """Everything that bears on one access token, in one read."""

    async def revocation_snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        """Every revocation that can still matter at ``now``, with the feed
        position it includes everything up to."""

    async def revocation_changes(
        self, after: str | None, now: float, horizon: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        """The revocation feed: events after position ``after`` (``None``:
        from the oldest kept), oldest first, at most ``limit``, none that can
        no longer matter. Every revocation write appends its event in the
        same atomic step, and events become visible in position order, so a
        follower that resumes from its last position misses nothing. Events
        are kept only while they can matter (trimmed by ``purge_expired``),
        so the feed is bounded like the view."""

    async def purge_expired(self, now: float, policy: Policy) -> int:
        """Delete state that can no longer matter (denylist entries past their
        ``forget_at``, sessions that are expired, idle, cut off or revoked
        longer than ``policy.revocation_horizon`` ago, login failures at least
        ``policy.login_window`` old, :meth:`remember_once` entries past their
        ``until``); return how many records, in bounded batches."""

    # login throttling
    async def login_failures(
        self, keys: Sequence[str], since: float
    ) -> list[tuple[int, float | None]]:
        """Per key: how many failures after ``since``, and the oldest of them."""

    async def record_login_failure(self, keys: Sequence[str], now: float, since: float) -> None:
        """Count one failure at ``now`` under each key, dropping that key's
        failures at or before ``since``."""

    async def clear_login_failures(self, key: str) -> None: ...

    # registered clients
    async def create_client(self, client: Client) -> None:
        """Add a client; StoreConflictError if the id or name is taken."""

    async def get_client(self, client_id: str) -> Client | None: ...

    # single-use ids
    async def remember_once(self, namespace: str, key: str, now: float, until: float) -> bool:
        """``True`` the first time ``(namespace, key)`` is seen, ``False`` if
        it was already seen and its ``until`` is still after ``now``: one
        atomic step, shared by every process on the store, so a replayed id
        (a JWT-bearer assertion's ``jti``; later a DPoP proof's) is refused
        by whichever process gets it. An entry is kept until ``until`` only
        (the caller bounds it: an assertion's expiry), then purged (a TTL
        in Redis, ``purge_expired`` elsewhere) or replaced."""

    # secret material, always encrypted by the caller
    async def load_keyring(self) -> bytes | None: ...

    async def save_keyring(self, blob: bytes, expected: bytes | None) -> bool:
        """Store ``blob`` if the current one is ``expected``
        (``None``: absent); compare-and-swap so first starts don't race."""


@runtime_checkable
class WaitsForRevocations(Protocol):
    """A store that can wake a follower when the revocation feed grows
    (PostgreSQL ``LISTEN/NOTIFY``, Redis ``XREAD BLOCK``); a store without it
    is polled."""

    async def wait_for_revocations(self, after: str | None, timeout: float) -> None:
        """Return once the feed may hold an event after position ``after``,
        or after ``timeout`` seconds. Waking without a new event is allowed
        (the caller reads the feed after every wake); sleeping through one
        is not. Raises StoreUnavailableError."""


@runtime_checkable
class Migrates(Protocol):
    """A store whose schema is versioned and upgraded on request, never
    behind the operator's back."""

    async def migrate(self) -> int:
        """Apply every pending migration; return the version now in place.
        ConfigurationError if the schema is newer than this code."""

    async def schema_version(self) -> int | None:
        """The version in place; ``None`` for a fresh (empty) schema."""
