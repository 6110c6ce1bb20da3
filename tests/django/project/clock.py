"""The project's clock: frozen, moved by the tests (never slept)."""

from __future__ import annotations

import time

from jwtwarden import FrozenClock

#: Starts at the real time: simplejwt's tokens are judged by the real clock.
CLOCK = FrozenClock(float(int(time.time())))
