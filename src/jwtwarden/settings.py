"""Settings: every option is a JWTWARDEN_<NAME> environment variable and
a command-line flag of the same name.

Read once, at the edges (the CLI, the server factory), and turned into a
frozen :class:`~jwtwarden.core.policy.Policy`; the core and the service never
import this module. Constructor arguments win over the environment, so tests
write Settings(access_ttl=5).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .core.policy import Policy
from .stores.breaker import BreakerPolicy

__all__ = ["DEFAULT_ISSUER", "Settings"]

#: The issuer used when none is configured: the default serve address.
DEFAULT_ISSUER = "http://127.0.0.1:8000"


class Settings(BaseSettings):
    """All of jwtwarden's configuration; durations are seconds."""

    model_config = SettingsConfigDict(env_prefix="JWTWARDEN_", extra="forbid")

    store: str = Field(
        "sqlite:///./jwtwarden.db",
        max_length=2048,
        description=(
            "Store URL: sqlite:///path (the embedded default), postgresql://…, redis://…, or "
            "memory:// (tests)."
        ),
    )
    issuer: str | None = Field(
        None,
        max_length=2048,
        description="iss of every token; defaults to the server's base URL.",
    )
    audience: str = Field(
        "jwtwarden", min_length=1, max_length=256, description="aud of access tokens."
    )
    algorithm: Literal["EdDSA", "Ed25519", "ES256", "RS256", "HS256"] = Field(
        "EdDSA",
        description=(
            "Signing algorithm of new keys: EdDSA or Ed25519 (the same Ed25519 keys, under "
            "the legacy or the RFC 9864 name, which tokens and the JWKS then carry), ES256, "
            "RS256, or HS256 (a shared secret: single-process setups only, not published "
            "in JWKS)."
        ),
    )
    access_ttl: int = Field(300, ge=1, le=86_400, description="Access token lifetime.")
    session_ttl: int = Field(
        2_592_000,
        ge=60,
        le=31_622_400,
        description="Absolute session lifetime: refreshing never extends a session past it.",
    )
    session_idle_ttl: int = Field(
        1_209_600, ge=60, le=31_622_400, description="A session unused this long ends."
    )
    refresh_grace: int = Field(
        10,
        ge=0,
        le=300,
        description=(
            "Seconds after a rotation during which the parent refresh token yields the "
            "same child again instead of counting as reuse; 0 is strict."
        ),
    )
    reuse_revokes: Literal["session", "user"] = Field(
        "session", description="On reuse, revoke the session or every session of the user."
    )
    leeway: int = Field(0, ge=0, le=300, description="Clock leeway when checking exp/iat.")
    insecure_cookies: bool = Field(
        False, description="Drop Secure on cookies: plain-HTTP localhost development only."
    )
    login_max_failures: int = Field(
        5,
        ge=1,
        le=10_000,
        description="Failed logins per (username, client IP) within the window before 429.",
    )
    login_ip_max_failures: int = Field(
        100,
        ge=1,
        le=1_000_000,
        description="Failed logins per client IP (any username) within the window before 429.",
    )
    login_window: int = Field(
        900, ge=1, le=86_400, description="The window for counting failed logins."
    )
    trusted_proxies: str = Field(
        "",
        max_length=4096,
        description="Comma-separated proxies whose X-Forwarded-For is believed.",
    )
    allowed_origins: str = Field(
        "",
        max_length=4096,
        description=(
            "Comma-separated extra origins (scheme://host:port) allowed to use the browser-mode "
            "cookie routes; the issuer's own origin always is. Each is answered CORS with "
            "credentials on the browser routes (never '*'); a wildcard or a path is refused."
        ),
    )
    master_key: SecretStr | None = Field(
        None,
        description=(
            "Master secret (from the environment) under which signing keys and the "
            "refresh-token MAC secret are stored encrypted in the store, so several "
            "processes and hosts share them. Without it they live in key_file."
        ),
    )
    key_file: str = Field(
        "jwtwarden.keys",
        max_length=4096,
        description="Key file (created with mode 0600) used when no master key is set.",
    )
    argon2_time_cost: int = Field(
        3,
        ge=1,
        le=20,
        description=(
            "argon2id time cost (passes). Defaults follow RFC 9106's second recommended "
            "option (t=3, m=64 MiB, p=4)."
        ),
    )
    argon2_memory_cost: int = Field(
        65_536, ge=8, le=4_194_304, description="argon2id memory cost in KiB."
    )
    argon2_parallelism: int = Field(4, ge=1, le=64, description="argon2id lanes.")
    max_staleness: int = Field(
        5,
        ge=1,
        le=3600,
        description=(
            "Seconds the server's local revocation view may lag the store's revocation feed "
            "before the server checks each token against the store instead."
        ),
    )
    access_log: bool = Field(
        True,
        description=(
            "Log one line per request (method, path without query, status, time, client) on "
            "the jwtwarden.access logger."
        ),
    )
    purge_interval: int = Field(
        60,
        ge=1,
        le=86_400,
        description="How often expired state is purged, as a side effect of normal traffic.",
    )

    store_breaker_failures: int = Field(
        3,
        ge=1,
        le=1000,
        description=(
            "Consecutive failed calls to a PostgreSQL or Redis store after which it counts as "
            "down: requests needing it get 503 with Retry-After at once while it is probed in "
            "the background."
        ),
    )
    store_breaker_probe_interval: float = Field(
        0.2,
        ge=0.01,
        le=60,
        description=(
            "Seconds between two probes of a store that is down: recovery follows its return "
            "within about this long."
        ),
    )
    store_breaker_probe_timeout: float = Field(
        1.0, ge=0.01, le=60, description="Seconds one probe of a down store may take."
    )

    # DPoP (RFC 9449) at the token endpoint and browser mode: docs/dpop.md.
    dpop_required: bool = Field(
        False,
        description=(
            "Every token request (password, refresh, JWT-bearer, browser mode) must carry a "
            "DPoP proof; one without is invalid_request and creates nothing."
        ),
    )
    dpop_nonces: bool = Field(
        False,
        description=(
            "DPoP proofs must carry a server nonce (use_dpop_nonce with a DPoP-Nonce header "
            "otherwise); nonces are stateless and rotate every 5 minutes."
        ),
    )

    def to_breaker_policy(self) -> BreakerPolicy:
        """When the store counts as down (:mod:`jwtwarden.stores.breaker`)."""
        return BreakerPolicy(
            failures=self.store_breaker_failures,
            probe_interval=self.store_breaker_probe_interval,
            probe_timeout=self.store_breaker_probe_timeout,
        )

    def to_policy(self) -> Policy:
        """The frozen rules the service and core run on."""
        return Policy(
            issuer=self.issuer or DEFAULT_ISSUER,
            audience=self.audience,
            algorithm=self.algorithm,
            access_ttl=float(self.access_ttl),
            session_ttl=float(self.session_ttl),
            idle_ttl=float(self.session_idle_ttl),
            refresh_grace=float(self.refresh_grace),
            reuse_revokes=self.reuse_revokes,
            leeway=float(self.leeway),
            purge_interval=float(self.purge_interval),
            login_max_failures=self.login_max_failures,
            login_ip_max_failures=self.login_ip_max_failures,
            login_window=float(self.login_window),
        )
