"""The rotation rule: what presenting a refresh token means.

``decide_rotation`` takes the stored facts and returns one decision; the
service applies it. The rules, in order:

1. A token whose MAC does not verify is forged or mangled: ``Rejected``,
   nothing changes. Reuse detection fires only on genuine tokens, so knowing a
   ``sid`` never lets anyone revoke someone else's session (DESIGN property 2).
2. A revoked, expired or idle session, a banned user or a user cutoff that
   covers the session: ``Rejected``.
3. The current generation: ``Rotated`` to the next one.
4. The parent of the current generation, within the grace window after the
   rotation that spent it: ``GraceReplay``, the same child again (two tabs
   racing, a lost response). Nothing older gets grace.
5. Any other genuine past generation: ``Reused``.

Before all of these, a session bound to a DPoP key (RFC 9449 §5) is refreshed
only with a proof signed by that key (:func:`dpop_refusal`): without one, the
token is refused whatever its generation, and nothing changes (the mismatch
policy in docs/security.md says why it is not treated as reuse).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from .policy import Policy
from .revocation import UserRevocation
from .sessions import Session

__all__ = [
    "GraceReplay",
    "Rejected",
    "Reused",
    "Rotated",
    "RotationDecision",
    "decide_rotation",
    "dpop_refusal",
    "rotates_now",
]


@dataclass(frozen=True, slots=True)
class Rotated:
    """Spend the presented generation; mint ``next_generation``."""

    next_generation: int


@dataclass(frozen=True, slots=True)
class GraceReplay:
    """Hand out the already-minted child again; change nothing."""

    child_generation: int


@dataclass(frozen=True, slots=True)
class Reused:
    """A spent token came back: the session is treated as stolen."""

    presented_generation: int
    current_generation: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """Refuse with ``invalid_grant``; ``reason`` is for logs only."""

    reason: str


RotationDecision = Rotated | GraceReplay | Reused | Rejected


def decide_rotation(
    session: Session,
    user: UserRevocation,
    presented_generation: int,
    *,
    genuine: bool,
    now: float,
    policy: Policy,
) -> RotationDecision:
    """Judge a refresh token for ``session`` presented at ``now``.

    ``genuine`` says whether the token's MAC verified for
    ``presented_generation``; the caller checks it in constant time.
    """
    if not genuine:
        return Rejected("bad_mac")
    if session.revoked_at is not None:
        return Rejected("revoked")
    if session.is_expired(now, policy):
        return Rejected("expired")
    if user.is_banned(now):
        return Rejected("banned")
    if user.covers(session.auth_time, session.sid):
        return Rejected("cutoff")
    current = session.generation
    if presented_generation > current:
        return Rejected("unknown_generation")
    if presented_generation == current:
        return Rotated(current + 1)
    # A spent refresh token presented again was copied by someone. We cannot
    # tell the thief from the owner, so the whole session goes (RFC 6819
    # §5.2.2.3, RFC 9700 §4.14.2). Inside the grace window the parent maps to
    # the same child.
    if presented_generation == current - 1 and _in_grace(session, now, policy):
        return GraceReplay(current)
    return Reused(presented_generation, current)


def dpop_refusal(session_jkt: str | None, proof_jkt: str | None) -> str | None:
    """Why a refresh token of a session bound to ``session_jkt`` may not be
    used with a proof by ``proof_jkt`` (``None``: no proof), or ``None`` if
    it may. An unbound session takes any proof or none: it stays unbound,
    and only the access token is bound to the proof's key (RFC 9449 §5
    binds a refresh token when it is issued; rebinding a live one would let
    whoever copied it tie the owner's session to the copier's key).

    Checked before the store is asked to change anything, so a refusal
    changes nothing: the binding is set at login and never changes.
    """
    if session_jkt is None:
        return None
    if proof_jkt is None:
        return "This refresh token is DPoP-bound: send a DPoP proof signed by its key."
    if not hmac.compare_digest(session_jkt.encode(), proof_jkt.encode()):
        return "The DPoP proof is signed by another key than the one this token is bound to."
    return None


def _in_grace(session: Session, now: float, policy: Policy) -> bool:
    if policy.refresh_grace <= 0 or session.rotated_at is None:
        return False
    # ``now`` may precede ``rotated_at``: a request that began before a
    # concurrent rotation landed (another process, another thread) lost the
    # race; it is inside the window, not reuse.
    return now - session.rotated_at <= policy.refresh_grace


def rotates_now(
    session: Session,
    user: UserRevocation,
    presented_generation: int,
    *,
    now: float,
    idle_ttl: float,
) -> bool:
    """Whether a genuine refresh token of ``presented_generation`` rotates
    ``session`` at ``now``: exactly when :func:`decide_rotation` returns
    :class:`Rotated`.

    This is the happy path of a refresh that every store runs in one atomic
    step (``Store.rotate_if_live``); the SQL and Lua copies name this
    function, and the contract suite checks each store against it. Each test
    is written as :func:`decide_rotation` and ``Session.is_expired`` write
    it (``now - last_used_at < idle_ttl``, never rearranged), so float
    boundaries fall in the same place.
    """
    return (
        session.revoked_at is None
        and session.generation == presented_generation
        and now < session.expires_at
        and now - session.last_used_at < idle_ttl
        and not user.is_banned(now)
        and not user.covers(session.auth_time, session.sid)
    )
