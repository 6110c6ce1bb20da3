"""``rotate_if_live`` where only the backends can go wrong: float boundaries
of the idle rule, and (Redis) a ``sub`` stored packed as a UUID.

At these ``(last_used_at, now, idle_ttl)`` Python's ``now - last_used_at <
idle_ttl`` holds, but the rearranged ``now < last_used_at + idle_ttl`` and
``last_used_at > now - idle_ttl`` do not (found by search), so a backend
that rearranges the idle test refuses a rotation ``decide_rotation`` grants.
The first two are whole microseconds (Redis stores them as integers), the
third is not (Redis stores its ``repr``).
"""

from __future__ import annotations

import secrets
import uuid

from jwtwarden.core.policy import Policy
from jwtwarden.core.rotation import Rotated, decide_rotation
from jwtwarden.core.sessions import Session
from jwtwarden.core.users import User
from jwtwarden.stores import Store

IDLE_BOUNDARIES = (
    (1800000956.034272, 1800000956.334272, 0.3),
    (1800025935.401433, 1800025936.501433, 1.1),
    (1800000695.8328667, 1800000696.1328666, 0.3),
)


async def rotate_if_live_agrees_at_float_boundaries(store: Store) -> None:
    for i, (last_used, now, idle) in enumerate(IDLE_BOUNDARIES):
        assert now - last_used < idle and not now < last_used + idle  # the premise
        for sub in (secrets.token_hex(8), str(uuid.uuid4())):
            user = User(sub, f"b{i}{secrets.token_hex(4)}", "$argon2id$x", (), last_used)
            await store.create_user(user)
            sid = secrets.token_urlsafe(16)
            session = Session(sid, sub, 4, b"s" * 16, last_used - 10, now + 9, last_used)
            await store.create_session(session)
            await store.set_cutoff(sub, last_used - 10, None)  # == auth_time: not covered
            found = await store.get_session(sid)
            assert found is not None and found[0] == session and found[1].sub == sub
            policy = Policy(idle_ttl=idle, access_ttl=300.0)
            expected = decide_rotation(
                session, found[1].revocation, 4, genuine=True, now=now, policy=policy
            )
            assert isinstance(expected, Rotated)
            result = await store.rotate_if_live(sid, 4, now, idle)
            assert result is not None, (i, sub)
            assert result[0].generation == 5 and result[0].last_used_at == now
            assert result[0].rotated_at == now and result[1] == found[1]
            assert await store.rotate_if_live(sid, 4, now, idle) is None  # spent
            again = await store.get_session(sid)
            assert again is not None and again == result
