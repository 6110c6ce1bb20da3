"""Login throttling: failed logins per (username, client IP) and per IP.

Past either limit within the sliding window, a login is refused with a
``Retry-After`` even when the password is right, so a guess cannot be
confirmed. Counting per (username, IP) as well as per IP means one attacker
cannot lock a user out from other addresses. Keys are hashed so the store
never holds what was typed as a username (sometimes a password).
"""

from __future__ import annotations

import hashlib
import math

from .policy import Policy

__all__ = ["retry_after", "throttle_keys"]


def throttle_keys(username_key: str, ip: str | None) -> list[tuple[str, int]]:
    """The counters a login attempt touches, each with its limit's name."""
    keys = [(_digest("user-ip", username_key, ip or "-"), 0)]
    if ip:
        keys.append((_digest("ip", ip), 1))
    return keys


def retry_after(
    counts: list[tuple[int, float | None]], limits: list[int], *, now: float, policy: Policy
) -> int | None:
    """Seconds until a login may be tried again, or ``None`` if it may now.

    ``counts`` holds, per key, the failures inside the window and the oldest
    of them; a key is over its limit until that oldest failure leaves the
    window.
    """
    waits = [
        oldest + policy.login_window - now
        for (count, oldest), limit in zip(counts, limits, strict=True)
        if count >= limit and oldest is not None
    ]
    return max(1, math.ceil(max(waits))) if waits else None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
