"""MemoryStore: dicts under a lock, for tests and single-process embedding.

A ``threading.Lock`` (not an asyncio one) guards every step, so one store
serves several event loops and threads at once; no step awaits while holding
it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from ..core.clients import Client
from ..core.policy import Policy
from ..core.revocation import NO_REVOCATION, UserRevocation, later_cutoff
from ..core.rotation import rotates_now
from ..core.sessions import Session, is_purgeable
from ..core.users import User, normalize_username
from ..core.view import RevocationEvent, RevocationSnapshot, event_forget_at
from ..errors import StoreConflictError
from .base import RevocationFacts

__all__ = ["MemoryStore"]


class MemoryStore:
    """The whole store in process memory; gone when the process ends."""

    def __init__(self, *, policy: Policy | None = None) -> None:
        #: The policy the store was opened with.
        self.policy = policy or Policy()
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._names: dict[str, str] = {}
        self._sessions: dict[str, Session] = {}
        self._denied: dict[str, float] = {}
        self._keyring: bytes | None = None
        self._failures: dict[str, list[float]] = {}
        #: The feed: (position, kind, key, at, forget_at or None, user state).
        self._events: list[tuple[int, str, str, float, float | None, UserRevocation | None]] = []
        self._position = 0
        self._clients: dict[str, Client] = {}
        self._once: dict[tuple[str, str], float] = {}

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create_user(self, user: User) -> None:
        with self._lock:
            if user.username_key in self._names or user.sub in self._users:
                raise StoreConflictError("That username is taken.")
            self._users[user.sub] = user
            self._names[user.username_key] = user.sub

    async def get_user(self, sub: str) -> User | None:
        return self._users.get(sub)

    async def find_user(self, username: str) -> User | None:
        sub = self._names.get(normalize_username(username))
        return None if sub is None else self._users.get(sub)

    async def list_users(self) -> list[User]:
        with self._lock:
            return sorted(self._users.values(), key=lambda u: u.created_at)

    async def set_password(
        self, sub: str, password_hash: str, cutoff_at: float | None, keep_sid: str | None
    ) -> bool:
        with self._lock:
            user = self._users.get(sub)
            if user is None:
                return False
            revocation = user.revocation
            if cutoff_at is not None:
                revocation = later_cutoff(revocation, cutoff_at, keep_sid)
            self._users[sub] = replace(user, password_hash=password_hash, revocation=revocation)
            if cutoff_at is not None:
                self._user_event(sub, revocation)
            return True

    async def set_roles(self, sub: str, roles: tuple[str, ...], cutoff_at: float) -> bool:
        with self._lock:
            user = self._users.get(sub)
            if user is None:
                return False
            revocation = later_cutoff(user.revocation, cutoff_at, None)
            self._users[sub] = replace(user, roles=roles, revocation=revocation)
            self._user_event(sub, revocation)
            return True

    async def set_cutoff(self, sub: str, cutoff_at: float, keep_sid: str | None) -> bool:
        with self._lock:
            user = self._users.get(sub)
            if user is None:
                return False
            revocation = later_cutoff(user.revocation, cutoff_at, keep_sid)
            self._users[sub] = replace(user, revocation=revocation)
            self._user_event(sub, revocation)
            return True

    async def set_ban(self, sub: str, until: float, cutoff_at: float) -> bool:
        with self._lock:
            user = self._users.get(sub)
            if user is None:
                return False
            revocation = replace(later_cutoff(user.revocation, cutoff_at, None), banned_until=until)
            self._users[sub] = replace(user, revocation=revocation)
            self._user_event(sub, revocation)
            return True

    async def lift_ban(self, sub: str) -> bool:
        with self._lock:
            user = self._users.get(sub)
            if user is None:
                return False
            revocation = replace(user.revocation, banned_until=None)
            self._users[sub] = replace(user, revocation=revocation)
            self._user_event(sub, revocation)
            return True

    async def create_session(self, session: Session) -> None:
        with self._lock:
            if session.sid in self._sessions:
                raise StoreConflictError("session id collision")
            self._sessions[session.sid] = session

    async def get_session(self, sid: str) -> tuple[Session, User] | None:
        session = self._sessions.get(sid)
        user = None if session is None else self._users.get(session.sub)
        return None if session is None or user is None else (session, user)

    async def rotate(self, sid: str, expected_generation: int, now: float) -> Session | None:
        with self._lock:
            session = self._sessions.get(sid)
            if session is None or session.revoked_at is not None:
                return None
            if session.generation != expected_generation:
                return None
            rotated = replace(
                session, generation=expected_generation + 1, rotated_at=now, last_used_at=now
            )
            self._sessions[sid] = rotated
            return rotated

    async def rotate_if_live(
        self, sid: str, expected_generation: int, now: float, idle_ttl: float
    ) -> tuple[Session, User] | None:
        with self._lock:
            session = self._sessions.get(sid)
            user = None if session is None else self._users.get(session.sub)
            if session is None or user is None or session.revoked_at is not None:
                return None
            if not rotates_now(
                session, user.revocation, expected_generation, now=now, idle_ttl=idle_ttl
            ):
                return None
            rotated = replace(
                session, generation=expected_generation + 1, rotated_at=now, last_used_at=now
            )
            self._sessions[sid] = rotated
            return rotated, user

    async def revoke_session(self, sid: str, now: float, reason: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(sid)
            if session is None or session.revoked_at is not None:
                return None
            revoked = replace(session, revoked_at=now, revoke_reason=reason)
            self._sessions[sid] = revoked
            self._append("sid", sid, now, None, None)
            return revoked

    async def list_sessions(self, sub: str) -> list[Session]:
        with self._lock:
            found = [s for s in self._sessions.values() if s.sub == sub]
        return sorted(found, key=lambda s: s.auth_time)

    async def deny_jti(self, jti: str, forget_at: float) -> None:
        with self._lock:
            self._denied[jti] = max(forget_at, self._denied.get(jti, forget_at))
            self._append("jti", jti, forget_at, self._denied[jti], None)

    async def revocation_facts(self, sub: str, sid: str, jti: str, now: float) -> RevocationFacts:
        session = self._sessions.get(sid)
        user = self._users.get(sub)
        return RevocationFacts(
            jti_denied=self._denied.get(jti, now) > now,
            session_revoked=session is not None and session.revoked_at is not None,
            user=user.revocation if user is not None else NO_REVOCATION,
        )

    async def revocation_snapshot(self, now: float, horizon: float) -> RevocationSnapshot:
        snapshot = RevocationSnapshot()
        with self._lock:
            snapshot.position = str(self._position)
            snapshot.denied = {jti: at for jti, at in self._denied.items() if at > now}
            for session in self._sessions.values():
                if session.revoked_at is not None:
                    forget_at = event_forget_at("sid", session.revoked_at, None, horizon)
                    if forget_at > now:
                        snapshot.sessions[session.sid] = forget_at
            for user in self._users.values():
                cutoff = user.revocation.cutoff_at
                if cutoff is not None:
                    forget_at = event_forget_at("user", cutoff, None, horizon)
                    if forget_at > now:
                        snapshot.users[user.sub] = (user.revocation, forget_at)
        return snapshot

    async def revocation_changes(
        self, after: str | None, now: float, horizon: float, limit: int = 1000
    ) -> list[RevocationEvent]:
        start = int(after) if after else 0
        with self._lock:
            rows = [e for e in self._events if e[0] > start]
        events = [_event(row, horizon) for row in rows]
        return [e for e in events if e.forget_at > now][:limit]

    async def purge_expired(self, now: float, policy: Policy) -> int:
        horizon = policy.revocation_horizon
        with self._lock:
            kept_events = [e for e in self._events if _event(e, horizon).forget_at > now]
            stale_events = len(self._events) - len(kept_events)
            self._events = kept_events
            denied = [jti for jti, at in self._denied.items() if at <= now]
            for jti in denied:
                del self._denied[jti]
            dead = [
                s.sid
                for s in self._sessions.values()
                if is_purgeable(s, self._revocation_of(s.sub), now=now, policy=policy)
            ]
            for sid in dead:
                del self._sessions[sid]
            seen = [k for k, until in self._once.items() if until <= now]
            for k in seen:
                del self._once[k]
            since, dropped = now - policy.login_window, len(seen)
            for key, times in list(self._failures.items()):
                kept = [t for t in times if t > since]
                dropped += len(times) - len(kept)
                if kept:
                    self._failures[key] = kept
                else:
                    del self._failures[key]
        return len(denied) + len(dead) + dropped + stale_events

    def _revocation_of(self, sub: str) -> UserRevocation | None:
        user = self._users.get(sub)
        return None if user is None else user.revocation

    async def login_failures(
        self, keys: Sequence[str], since: float
    ) -> list[tuple[int, float | None]]:
        with self._lock:
            out: list[tuple[int, float | None]] = []
            for key in keys:
                times = [t for t in self._failures.get(key, ()) if t > since]
                out.append((len(times), times[0] if times else None))
            return out

    async def record_login_failure(self, keys: Sequence[str], now: float, since: float) -> None:
        with self._lock:
            for key in keys:
                times = [t for t in self._failures.get(key, ()) if t > since]
                times.append(now)
                self._failures[key] = times

    async def clear_login_failures(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    async def create_client(self, client: Client) -> None:
        with self._lock:
            taken = {c.name for c in self._clients.values()}
            if client.client_id in self._clients or client.name in taken:
                raise StoreConflictError("That client name is taken.")
            self._clients[client.client_id] = client

    async def get_client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def _user_event(self, sub: str, revocation: UserRevocation) -> None:
        if revocation.cutoff_at is not None:
            self._append("user", sub, revocation.cutoff_at, None, revocation)

    def _append(
        self, kind: str, key: str, at: float, forget_at: float | None, user: UserRevocation | None
    ) -> None:
        """Append a feed event; the caller holds the lock."""
        self._position += 1
        self._events.append((self._position, kind, key, at, forget_at, user))

    async def remember_once(self, namespace: str, key: str, now: float, until: float) -> bool:
        with self._lock:
            kept = self._once.get((namespace, key))
            if kept is not None and kept > now:
                return False
            self._once[(namespace, key)] = until
            return True

    async def load_keyring(self) -> bytes | None:
        return self._keyring

    async def save_keyring(self, blob: bytes, expected: bytes | None) -> bool:
        with self._lock:
            if self._keyring != expected:
                return False
            self._keyring = blob
            return True


def _event(
    row: tuple[int, str, str, float, float | None, UserRevocation | None], horizon: float
) -> RevocationEvent:
    position, kind, key, at, forget_at, user = row
    return RevocationEvent(
        str(position), kind, key, event_forget_at(kind, at, forget_at, horizon), user
    )
