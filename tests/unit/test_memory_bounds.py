"""Every cache and buffer of a server process stays within its documented
bound (docs/architecture.md, "Memory bounds"), however much is put in."""

from __future__ import annotations

import io

from jwtwarden import FrozenClock, RevocationView, TokenService
from jwtwarden.server.access_log import LogWriter, access_message
from jwtwarden.server.app import SERVER_TOKEN_CACHE, create_app
from jwtwarden.server.follower import RevocationFollower
from jwtwarden.server.metrics import Metrics
from jwtwarden.settings import Settings
from jwtwarden.tokens.refresh import SaltCache, new_salt, new_sid
from tests.conftest import ServiceFactory

PASSWORD = "correct horse battery"


def test_the_salt_cache_keeps_at_most_its_size() -> None:
    cache = SaltCache(size=100)
    sids = [new_sid() for _ in range(1000)]
    for sid in sids:
        cache.put(sid, new_salt())
    assert len(cache) == 100
    assert cache.get(sids[0]) is None and cache.get(sids[-1]) is not None


async def test_the_follower_relays_at_most_its_event_buffer(
    make_service: ServiceFactory, clock: FrozenClock
) -> None:
    svc: TokenService = await make_service("memory")
    await svc.create_user("alice", PASSWORD)
    follower = RevocationFollower(
        svc.store,
        RevocationView(),
        clock=clock,
        horizon=svc.policy.revocation_horizon,
        keep_events=5,
    )
    await follower.poll()
    start = follower.position
    for _ in range(12):
        pair = await svc.login("alice", PASSWORD)
        await svc.revoke_session(pair.sid)
    assert await follower.poll() == 12
    assert len(follower.recent) == 5
    assert follower.events_after(start) is None  # too far behind: a snapshot instead
    assert len(follower.events_after(follower.recent[0].position) or []) == 4


def test_the_log_buffer_drops_past_its_bound_and_says_so() -> None:
    out = io.StringIO()
    writer = LogWriter(out, max_buffered=1000)
    line = access_message("192.0.2.1", "GET", "/me", 200, 0.1)
    for _ in range(10_000):
        writer.write_access(line)
    assert writer.buffered <= 1000
    writer.flush()
    lines = out.getvalue().splitlines()
    assert len(lines) < 20 and all('"GET /me" 200' in x for x in lines[:-1])
    assert lines[-1].endswith("log lines dropped: the log output did not keep up")
    assert writer.buffered == 0 and writer.dropped == 0


def test_an_access_line_quotes_at_most_a_bounded_path() -> None:
    line = access_message("192.0.2.1", "GET", "/" + "a" * 100_000, 404, 0.1)
    assert len(line) < 1200


def test_the_latency_metric_has_a_label_set_per_route_template_not_per_path() -> None:
    metrics = Metrics()
    for i in range(1000):
        metrics.observe("GET", "unmatched", 404, 0.001 * (i % 3))
    metrics.observe("GET", "/sessions/{sid}", 204, 0.001)
    assert len(metrics._children) == 2


async def test_the_servers_token_cache_has_its_documented_size(
    make_service: ServiceFactory,
) -> None:
    svc: TokenService = await make_service("memory")
    app = create_app(svc, Settings(store="memory://"))
    assert app.state.ctx.verifier._cache.size == SERVER_TOKEN_CACHE


def test_the_trusted_proxies_remember_a_bounded_number_of_verdicts_all_right() -> None:
    from jwtwarden.server.requests import _SEEN_ADDRESSES, TrustedProxies

    proxies = TrustedProxies("10.0.0.0/8")
    for i in range(3 * _SEEN_ADDRESSES):
        address = f"10.{i % 256}.{i // 256}.1" if i % 2 else f"192.0.{i % 256}.{i // 256}"
        assert (address in proxies) == bool(i % 2)
        assert (address in proxies) == bool(i % 2)  # from the memo
    assert "not an address" not in proxies and "x" * 10_000 not in proxies
    assert len(proxies._seen) <= _SEEN_ADDRESSES


def test_the_refresh_grants_address_memo_is_bounded_and_canonical() -> None:
    from jwtwarden.service import service

    assert service._ip_text("::ffff:0:1") == service._ip_text("::ffff:0:1") == "::ffff:0:1"
    assert service._ip_text("2001:DB8::1") == "2001:db8::1" and service._ip_text("nope") is None
    assert service._ip_text(None) is None and service._ip_text("1" * 100) is None
    for i in range(2 * service._SEEN_ADDRESSES):
        service._ip_text(f"192.0.{i % 256}.{i // 256}")
    assert len(service._ADDRESSES) <= service._SEEN_ADDRESSES
