"""The rotation rule as a table: facts in, one decision out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from jwtwarden.core.policy import Policy
from jwtwarden.core.revocation import UserRevocation
from jwtwarden.core.rotation import GraceReplay, Rejected, Reused, Rotated, decide_rotation
from jwtwarden.core.sessions import Session

T = 1_800_000_000.0
POLICY = Policy(refresh_grace=10, session_ttl=1000, idle_ttl=500)
BASE = Session(
    sid="s",
    sub="u",
    generation=3,
    salt=b"",
    auth_time=T,
    expires_at=T + 1000,
    last_used_at=T + 100,
    rotated_at=T + 100,
)
NONE = UserRevocation()

CASES = [
    ("current-rotates", BASE, NONE, 3, True, T + 101, Rotated(4)),
    ("forged-current", BASE, NONE, 3, False, T + 101, Rejected("bad_mac")),
    ("forged-old-is-not-reuse", BASE, NONE, 1, False, T + 500, Rejected("bad_mac")),
    ("future-generation", BASE, NONE, 4, True, T + 101, Rejected("unknown_generation")),
    ("parent-in-grace", BASE, NONE, 2, True, T + 110, GraceReplay(3)),
    ("parent-after-grace", BASE, NONE, 2, True, T + 110.000001, Reused(2, 3)),
    ("parent-racing-the-rotation", BASE, NONE, 2, True, T + 99.5, GraceReplay(3)),
    ("grandparent-in-grace", BASE, NONE, 1, True, T + 101, Reused(1, 3)),
    ("revoked", replace(BASE, revoked_at=T + 100), NONE, 3, True, T + 101, Rejected("revoked")),
    ("revoked-old", replace(BASE, revoked_at=T + 100), NONE, 1, True, T + 101, Rejected("revoked")),
    ("absolute-expiry", BASE, NONE, 3, True, T + 1000, Rejected("expired")),
    ("idle-expiry", BASE, NONE, 3, True, T + 600, Rejected("expired")),
    ("banned", BASE, UserRevocation(T + 50, None, T + 200), 3, True, T + 101, Rejected("banned")),
    ("cutoff", BASE, UserRevocation(T + 1), 3, True, T + 101, Rejected("cutoff")),
    ("cutoff-kept", BASE, UserRevocation(T + 1, "s"), 3, True, T + 101, Rotated(4)),
    ("cutoff-before-login", BASE, UserRevocation(T - 1), 3, True, T + 101, Rotated(4)),
    ("cutoff-at-login-instant", BASE, UserRevocation(T), 3, True, T + 101, Rotated(4)),
    ("ban-over", BASE, UserRevocation(T - 5, None, T - 1), 3, True, T + 101, Rotated(4)),
    ("strict-no-grace", BASE, NONE, 2, True, T + 100, Reused(2, 3)),
]


@pytest.mark.parametrize(
    "name,session,user,gen,genuine,now,expected", CASES, ids=[c[0] for c in CASES]
)
def test_decide_rotation(name, session, user, gen, genuine, now, expected) -> None:  # type: ignore[no-untyped-def]
    policy = replace(POLICY, refresh_grace=0) if name == "strict-no-grace" else POLICY
    assert decide_rotation(session, user, gen, genuine=genuine, now=now, policy=policy) == expected
