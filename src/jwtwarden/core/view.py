"""RevocationView: the bounded local state a verifier checks tokens against.

Only revocations younger than the longest access-token lifetime can matter:
after that every token they covered has expired by itself. Each entry
therefore carries a ``forget_at`` instant and the view drops it on its own,
so its size is the revocation rate × the access-token lifetime, never the
history (DESIGN property 7).

Reads are plain dict lookups (atomic under the GIL) and take no lock; writes
and expiry take one, so a feed thread can update the view while request
threads read it.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass, field
from typing import Any

from .revocation import NO_REVOCATION, Cause, UserRevocation, revocation_cause

__all__ = ["RevocationEvent", "RevocationSnapshot", "RevocationView", "event_forget_at"]

_JTI, _SID, _SUB = 0, 1, 2


def event_forget_at(kind: str, at: float, forget_at: float | None, horizon: float) -> float:
    """When a feed event of ``kind`` that happened ``at`` can no longer matter.

    A ``jti`` event denies one access token, so it matters until that token
    would expire anyway: its own ``forget_at``. A revoked session, a user's
    cutoff or ban and a store cutoff each cover access tokens issued before
    ``at``, the last of which expires one revocation ``horizon`` later. Stores
    trim their feeds and snapshots by this; SQL and Lua copies name it.
    """
    if kind == "jti" and forget_at is not None:
        return forget_at
    return at + horizon


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    """One entry of the revocation feed: what changed, in store order."""

    #: Opaque, increasing position in the feed; resume after it.
    position: str
    #: ``jti`` (a denied access token), ``sid`` (a revoked session), ``user``
    #: (a user's cutoff or ban changed) or ``store`` (a cutoff for everyone).
    kind: str
    #: The jti, sid or sub; empty for ``store``.
    key: str
    forget_at: float
    #: The user's whole revocation state after the change (``user`` only).
    user: UserRevocation | None = None
    #: The instant every older token died (``store`` only).
    cutoff_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the ``/revocations`` stream."""
        return {
            "position": self.position,
            "kind": self.kind,
            "key": self.key,
            "forget_at": self.forget_at,
            "user": _user_dict(self.user),
            "cutoff_at": self.cutoff_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RevocationEvent:
        """Parse :meth:`to_dict` output; ValueError/TypeError/KeyError if malformed."""
        return cls(
            str(data["position"]),
            str(data["kind"]),
            str(data["key"]),
            float(data["forget_at"]),
            _user_from(data.get("user")),
            _float_or_none(data.get("cutoff_at")),
        )


@dataclass(slots=True)
class RevocationSnapshot:
    """Every revocation that can still matter, each with its ``forget_at``."""

    denied: dict[str, float] = field(default_factory=dict)
    sessions: dict[str, float] = field(default_factory=dict)
    users: dict[str, tuple[UserRevocation, float]] = field(default_factory=dict)
    #: ``(cutoff_at, forget_at)`` for every user, after the store lost data.
    store_cutoff: tuple[float, float] | None = None
    #: The feed position this snapshot includes everything up to; follow the
    #: feed from here and nothing is missed.
    position: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the ``/revocations`` stream."""
        return {
            "position": self.position,
            "denied": self.denied,
            "sessions": self.sessions,
            "users": {
                sub: {"revocation": _user_dict(rev), "forget_at": at}
                for sub, (rev, at) in self.users.items()
            },
            "store_cutoff": list(self.store_cutoff) if self.store_cutoff else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RevocationSnapshot:
        """Parse :meth:`to_dict` output; ValueError/TypeError/KeyError if malformed."""
        users = {}
        for sub, entry in dict(data["users"]).items():
            revocation = _user_from(entry["revocation"])
            if revocation is not None:
                users[str(sub)] = (revocation, float(entry["forget_at"]))
        cutoff = data.get("store_cutoff")
        return cls(
            {str(k): float(v) for k, v in dict(data["denied"]).items()},
            {str(k): float(v) for k, v in dict(data["sessions"]).items()},
            users,
            (float(cutoff[0]), float(cutoff[1])) if cutoff else None,
            None if data.get("position") is None else str(data["position"]),
        )

    def __len__(self) -> int:
        everyone = 0 if self.store_cutoff is None else 1
        return len(self.denied) + len(self.sessions) + len(self.users) + everyone


class RevocationView:
    """Denied jtis, revoked sids and user cutoffs/bans, each forgotten when it
    can no longer matter."""

    def __init__(self) -> None:
        self._denied: dict[str, float] = {}
        self._sessions: dict[str, float] = {}
        self._users: dict[str, tuple[UserRevocation, float]] = {}
        self._expiry: list[tuple[float, int, str]] = []
        self._store_cutoff: tuple[float, float] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._denied) + len(self._sessions) + len(self._users)

    def deny_jti(self, jti: str, forget_at: float) -> None:
        self._put(self._denied, _JTI, jti, forget_at)

    def revoke_session(self, sid: str, forget_at: float) -> None:
        self._put(self._sessions, _SID, sid, forget_at)

    def set_user(self, sub: str, revocation: UserRevocation, forget_at: float) -> None:
        with self._lock:
            self._users[sub] = (revocation, forget_at)
            heapq.heappush(self._expiry, (forget_at, _SUB, sub))

    def set_store_cutoff(self, cutoff_at: float, forget_at: float) -> None:
        """Every token from before ``cutoff_at`` is revoked, until ``forget_at``."""
        self._store_cutoff = (cutoff_at, forget_at)

    def load(self, snapshot: RevocationSnapshot) -> None:
        """Add every entry of ``snapshot``."""
        if snapshot.store_cutoff is not None:
            self.set_store_cutoff(*snapshot.store_cutoff)
        for jti, at in snapshot.denied.items():
            self.deny_jti(jti, at)
        for sid, at in snapshot.sessions.items():
            self.revoke_session(sid, at)
        for sub, (revocation, at) in snapshot.users.items():
            self.set_user(sub, revocation, at)

    def apply(self, event: RevocationEvent) -> None:
        """Apply one feed event; applying an event twice changes nothing."""
        if event.kind == "jti":
            self.deny_jti(event.key, event.forget_at)
        elif event.kind == "sid":
            self.revoke_session(event.key, event.forget_at)
        elif event.kind == "user" and event.user is not None:
            self.set_user(event.key, event.user, event.forget_at)
        elif event.kind == "store" and event.cutoff_at is not None:
            self.set_store_cutoff(event.cutoff_at, event.forget_at)

    def snapshot(self) -> RevocationSnapshot:
        with self._lock:
            return RevocationSnapshot(
                dict(self._denied), dict(self._sessions), dict(self._users), self._store_cutoff
            )

    def forget_expired(self, now: float) -> int:
        """Drop every entry whose ``forget_at`` has passed; return how many."""
        dropped = 0
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                at, kind, key = heapq.heappop(self._expiry)
                table = self._table(kind)
                entry = table.get(key)
                current = entry[1] if isinstance(entry, tuple) else entry
                if current is not None and current <= at:
                    del table[key]
                    dropped += 1
        return dropped

    def cause(self, *, sub: str, sid: str, jti: str, auth_time: float, now: float) -> Cause | None:
        """Why a token with these claims is revoked, or ``None``. Entries past
        their ``forget_at`` are dropped first, so the answer never depends on
        when expiry last ran."""
        if self._expiry and self._expiry[0][0] <= now:
            self.forget_expired(now)
        user = self._users.get(sub)
        everyone = self._store_cutoff
        return revocation_cause(
            sid=sid,
            auth_time=auth_time,
            jti_denied=jti in self._denied,
            session_revoked=sid in self._sessions,
            user=user[0] if user is not None else NO_REVOCATION,
            now=now,
            store_cutoff=everyone[0] if everyone is not None and now < everyone[1] else None,
        )

    def _put(self, table: dict[str, float], kind: int, key: str, forget_at: float) -> None:
        with self._lock:
            if table.get(key, float("-inf")) < forget_at:
                table[key] = forget_at
                heapq.heappush(self._expiry, (forget_at, kind, key))

    def _table(self, kind: int) -> dict[str, float] | dict[str, tuple[UserRevocation, float]]:
        return (self._denied, self._sessions, self._users)[kind]


def _user_dict(user: UserRevocation | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "cutoff_at": user.cutoff_at,
        "keep_sid": user.keep_sid,
        "banned_until": user.banned_until,
    }


def _user_from(data: Any) -> UserRevocation | None:
    if data is None:
        return None
    keep = data.get("keep_sid")
    return UserRevocation(
        _float_or_none(data.get("cutoff_at")),
        None if keep is None else str(keep),
        _float_or_none(data.get("banned_until")),
    )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
