"""Time, injected.

Every time rule in jwtwarden reads "now" from a :class:`Clock` passed in by
the caller, so tests move time with :meth:`FrozenClock.advance` instead of
sleeping or patching globals. Instants are float seconds since the Unix epoch
with microsecond resolution: the unit of JWT NumericDate (RFC 7519 §2), so
a cutoff, a session record and a token's ``auth_time`` compare exactly.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock"]


class Clock(Protocol):
    """Anything with ``now() -> float`` (epoch seconds, microsecond resolution)."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock, truncated to whole microseconds."""

    def now(self) -> float:
        return time.time_ns() // 1000 / 1_000_000


class FrozenClock:
    """A clock that moves only when told to; thread-safe."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (rounded to microseconds); return the new now."""
        with self._lock:
            self._now = round(self._now + seconds, 6)
            return self._now

    def set(self, instant: float) -> None:
        with self._lock:
            self._now = round(instant, 6)
