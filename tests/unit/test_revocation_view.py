"""RevocationView: the verifier's local state forgets what can no longer matter."""

from __future__ import annotations

from jwtwarden.core.revocation import Cause, UserRevocation
from jwtwarden.core.view import RevocationSnapshot, RevocationView

T = 1_800_000_000.0


def cause(
    view: RevocationView,
    now: float,
    *,
    sub: str = "u",
    sid: str = "s",
    jti: str = "j",
    auth_time: float = T,
) -> Cause | None:
    return view.cause(sub=sub, sid=sid, jti=jti, auth_time=auth_time, now=now)


def test_each_kind_of_entry_revokes_and_is_forgotten_at_its_time() -> None:
    view = RevocationView()
    view.deny_jti("j", T + 10)
    view.revoke_session("s2", T + 20)
    view.set_user("u3", UserRevocation(T + 5), T + 30)
    assert cause(view, T + 1) is Cause.DENIED
    assert cause(view, T + 1, jti="k", sid="s2") is Cause.SESSION
    assert cause(view, T + 6, sub="u3", jti="k") is Cause.CUTOFF
    assert cause(view, T + 6, sub="u3", jti="k", auth_time=T + 5) is None
    assert len(view) == 3
    assert cause(view, T + 10) is None
    assert len(view) == 2
    assert cause(view, T + 30, sub="u3", jti="k", sid="s2") is None
    assert len(view) == 0


def test_ban_is_reported_while_it_lasts_then_the_cutoff_remains() -> None:
    view = RevocationView()
    view.set_user("u", UserRevocation(T + 2, None, T + 5), T + 302)
    assert cause(view, T + 3) is Cause.BANNED
    assert cause(view, T + 6) is Cause.CUTOFF


def test_kept_session_survives_its_users_cutoff() -> None:
    view = RevocationView()
    view.set_user("u", UserRevocation(T + 2, "keep"), T + 302)
    assert cause(view, T + 3, sid="keep") is None
    assert cause(view, T + 3, sid="other") is Cause.CUTOFF


def test_a_later_entry_is_not_dropped_by_an_earlier_expiry() -> None:
    view = RevocationView()
    view.deny_jti("j", T + 10)
    view.deny_jti("j", T + 50)
    view.set_user("u", UserRevocation(T + 1), T + 10)
    view.set_user("u", UserRevocation(T + 8), T + 60)
    assert view.forget_expired(T + 20) == 0
    assert cause(view, T + 20) is Cause.DENIED
    assert cause(view, T + 20, jti="k", auth_time=T + 5) is Cause.CUTOFF


def test_snapshot_round_trip() -> None:
    snapshot = RevocationSnapshot({"j": T + 10}, {"s": T + 10}, {"u": (UserRevocation(T), T + 10)})
    view = RevocationView()
    view.load(snapshot)
    assert view.snapshot() == snapshot
    assert len(view) == 3


def test_a_store_cutoff_revokes_every_older_token_for_one_horizon() -> None:
    view = RevocationView()
    view.load(RevocationSnapshot(store_cutoff=(T + 10, T + 310)))
    assert cause(view, T + 20, auth_time=T + 5) is Cause.CUTOFF
    assert cause(view, T + 20, auth_time=T + 10) is None
    assert cause(view, T + 310, auth_time=T + 5) is None
