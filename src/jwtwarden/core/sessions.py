"""Sessions (token families), as the store reports them.

A session is one login on one device. Its refresh token is
``sid.generation.mac``: the server keeps only the current generation and a
per-session salt, which is O(1) state however many rotations happen
(DESIGN property 3), and checks any past generation by recomputing its MAC.
"""

from __future__ import annotations

from dataclasses import dataclass

from .policy import Policy
from .revocation import UserRevocation

__all__ = ["Session", "is_purgeable"]


@dataclass(frozen=True, slots=True)
class Session:
    """One login; everything the server stores about it."""

    sid: str
    sub: str
    #: How many times the refresh token has been rotated; the live RT is this one.
    generation: int
    #: Per-session random salt mixed into every refresh-token MAC.
    salt: bytes
    #: The login time, carried unchanged through every rotation.
    auth_time: float
    #: Absolute end: ``auth_time + session_ttl``; refreshing never moves it.
    expires_at: float
    last_used_at: float
    #: When the current generation was minted; anchors the grace window.
    rotated_at: float | None = None
    revoked_at: float | None = None
    revoke_reason: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    client_id: str = "jwtwarden"
    #: The application's custom claims for every access token of this
    #: session, as canonical JSON (``core/claims.py``); ``None``: none.
    claims: str | None = None
    #: The RFC 7638 thumbprint of the DPoP key the session is bound to
    #: (RFC 9449 §5): every refresh must come with a proof signed by that
    #: key. ``None``: not bound. Set at login, never changed.
    jkt: str | None = None

    def is_expired(self, now: float, policy: Policy) -> bool:
        """Past its absolute lifetime, or unused for longer than the idle TTL."""
        return now >= self.expires_at or now - self.last_used_at >= policy.idle_ttl

    def is_live(self, now: float, policy: Policy, user: UserRevocation) -> bool:
        return (
            self.revoked_at is None
            and not self.is_expired(now, policy)
            and not user.covers(self.auth_time, self.sid)
        )


def is_purgeable(
    session: Session, user: UserRevocation | None, *, now: float, policy: Policy
) -> bool:
    """Whether a store may delete ``session`` at ``now`` (DESIGN property 7).

    An unrevoked session goes once it can never be refreshed again: past its
    absolute lifetime, idle for the idle TTL, its user gone (``None``), or
    covered by its user's cutoff. A revoked one is kept one revocation
    horizon longer: the feed and the snapshot report it until every access
    token it minted has expired (``core.view.event_forget_at``).

    Stores purge in SQL or Lua for speed; each copy names this function and
    the contract suite checks it agrees. A copy may rearrange a comparison to
    use an index (``last_used_at <= now - idle_ttl``); that moves a purge by
    at most the last bit of a float, a fraction of a microsecond.
    """
    if session.revoked_at is not None:
        return session.revoked_at + policy.revocation_horizon <= now
    return user is None or not session.is_live(now, policy, user)
