"""Policy: the numbers every rule is judged by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Policy"]


@dataclass(frozen=True, slots=True)
class Policy:
    """TTLs, grace, leeway and reuse scope; durations in seconds."""

    #: ``iss`` of every token.
    issuer: str = "http://127.0.0.1:8000"
    #: ``aud`` of access tokens.
    audience: str = "jwtwarden"
    #: Algorithm of newly generated signing keys.
    algorithm: Literal["EdDSA", "Ed25519", "ES256", "RS256", "HS256"] = "EdDSA"
    access_ttl: float = 300.0
    session_ttl: float = 2_592_000.0
    idle_ttl: float = 1_209_600.0
    refresh_grace: float = 10.0
    reuse_revokes: Literal["session", "user"] = "session"
    leeway: float = 0.0
    purge_interval: float = 60.0
    #: Failed logins per (username, client IP) within the window before 429.
    login_max_failures: int = 5
    #: Failed logins per client IP within the window before 429.
    login_ip_max_failures: int = 100
    login_window: float = 900.0

    @property
    def login_limits(self) -> list[int]:
        """The limits of the keys :func:`~jwtwarden.core.throttle.throttle_keys` returns."""
        return [self.login_max_failures, self.login_ip_max_failures]

    @property
    def revocation_horizon(self) -> float:
        """How long a revocation of an access token can matter: past this,
        every token it covered has expired on its own (DESIGN property 7)."""
        return self.access_ttl + self.leeway
