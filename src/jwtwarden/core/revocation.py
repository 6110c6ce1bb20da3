"""What each revocation covers, and the one rule that judges a token by them.

Four kinds of revocation exist (DESIGN "Words"):

- a denied ``jti``: one access token, kept until that token would expire;
- a revoked ``sid``: a session, its refresh token and every access token it
  minted;
- a user cutoff at instant T: every session that began before T dies, and so
  does every access token of those sessions, judged by ``auth_time`` (the
  login time carried unchanged through rotations), so a session that began
  before T cannot be refreshed after it. ``keep_sid`` spares the caller's own
  session for "log out everywhere else" and a password change;
- a ban until an instant: a cutoff at the moment of the ban, and no login or
  refresh until it ends.

A cutoff is one write whatever the number of tokens (seed 002: 1,000 tokens
revoked by updating one row instead of 1,000 denylist inserts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

__all__ = ["NO_REVOCATION", "Cause", "UserRevocation", "later_cutoff", "revocation_cause"]


class Cause(Enum):
    """Why an access token is revoked; each maps to one error class."""

    DENIED = "denied"
    SESSION = "session"
    CUTOFF = "cutoff"
    BANNED = "banned"


@dataclass(frozen=True, slots=True)
class UserRevocation:
    """The per-user revocation state: a cutoff and a ban, both optional."""

    #: Sessions that began strictly before this instant are dead.
    cutoff_at: float | None = None
    #: The one session a cutoff spares (``logout/all?keep_current``).
    keep_sid: str | None = None
    #: No login or refresh before this instant.
    banned_until: float | None = None

    def covers(self, auth_time: float, sid: str) -> bool:
        """Whether the cutoff kills a session that began at ``auth_time``."""
        return self.cutoff_at is not None and auth_time < self.cutoff_at and sid != self.keep_sid

    def is_banned(self, now: float) -> bool:
        return self.banned_until is not None and now < self.banned_until


NO_REVOCATION = UserRevocation()


def later_cutoff(
    revocation: UserRevocation, cutoff_at: float, keep_sid: str | None
) -> UserRevocation:
    """``revocation`` with a cutoff at ``cutoff_at`` sparing ``keep_sid``.

    A cutoff only moves forward: of two racing cutoffs the later one wins,
    with its own ``keep_sid``, whatever order they land in. Moving it back
    would bring sessions killed by the later one back to life. An equal
    cutoff replaces ``keep_sid`` (the newer call's intent). The SQL and Lua
    copies of this rule name this function.
    """
    if revocation.cutoff_at is not None and revocation.cutoff_at > cutoff_at:
        return revocation
    return replace(revocation, cutoff_at=cutoff_at, keep_sid=keep_sid)


def revocation_cause(
    *,
    sid: str,
    auth_time: float,
    jti_denied: bool,
    session_revoked: bool,
    user: UserRevocation,
    now: float,
    store_cutoff: float | None = None,
) -> Cause | None:
    """The reason an access token with these claims is revoked, or ``None``.

    A ban is reported as ``BANNED`` while it lasts, for a clearer error; the
    cutoff it set stays after it is lifted, so tokens from before the ban stay
    dead.

    ``store_cutoff`` is a cutoff for everyone: a store that lost its data
    (a Redis restarted empty) cannot know which tokens were revoked, so every
    token from before the loss is treated as revoked.
    """
    if jti_denied:
        return Cause.DENIED
    if store_cutoff is not None and auth_time < store_cutoff:
        return Cause.CUTOFF
    if session_revoked:
        return Cause.SESSION
    if user.covers(auth_time, sid):
        return Cause.BANNED if user.is_banned(now) else Cause.CUTOFF
    return None
