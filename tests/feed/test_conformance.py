"""docs/feed-protocol.md, section by section, checked against the server."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from tests.feed.conftest import Event, Feed, login

HORIZON = 120.0  # the access_ttl the feed fixture starts the server with


def is_instant(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 1e9


def is_user(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and (value["cutoff_at"] is None or is_instant(value["cutoff_at"]))
        and (value["keep_sid"] is None or isinstance(value["keep_sid"], str))
        and (value["banned_until"] is None or is_instant(value["banned_until"]))
    )


def check_revocation(event: Event) -> dict[str, Any]:
    """§3.3: the members and their types; ``id`` equals ``position``."""
    data = event.data
    assert event.type == "revocation"
    assert isinstance(data["position"], str) and 0 < len(data["position"]) <= 64
    assert event.id == data["position"]
    assert data["kind"] in ("jti", "sid", "user", "store")
    assert isinstance(data["key"], str)
    assert is_instant(data["forget_at"])
    assert data["user"] is None or is_user(data["user"])
    assert (data["user"] is not None) == (data["kind"] == "user")
    assert data["cutoff_at"] is None or is_instant(data["cutoff_at"])
    return data


def revocation_of(kind: str, key: str) -> Any:
    return lambda e: e.type == "revocation" and e.data["kind"] == kind and e.data["key"] == key


def test_the_endpoint_is_found_and_only_resource_servers_may_listen(feed: Feed) -> None:
    # §1: advertised or at <issuer>/revocations; §2: Basic auth, 401 invalid_client.
    assert feed.endpoint.endswith("/revocations")
    for auth in (None, (feed.auth[0], "wrong"), ("rs_nobody", feed.auth[1])):
        r = httpx.get(feed.endpoint, auth=auth)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].lower().startswith("basic")
        assert r.json()["error"] == "invalid_client"
    bad = httpx.get(feed.endpoint, headers={"authorization": "Basic !!!"})
    assert bad.status_code == 401
    # RFC 6749 §2.3.1: form-encoded parts inside Basic.
    encoded = base64.b64encode(f"{feed.auth[0]}:{feed.auth[1]}".encode()).decode()
    with httpx.stream("GET", feed.endpoint, headers={"authorization": f"Basic {encoded}"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"


def test_the_metadata_advertises_the_feed(feed: Feed) -> None:
    meta = httpx.get(feed.url + "/.well-known/oauth-authorization-server").json()
    assert meta["jwtwarden_revocations_endpoint"] == meta["issuer"].rstrip("/") + "/revocations"


def test_a_stream_starts_with_a_snapshot_then_heartbeats(feed: Feed) -> None:
    a = login(feed.url)
    httpx.post(feed.url + "/logout", headers=feed.bearer(a["access_token"]))
    with feed.open() as stream:
        first = stream.next()
        # §3.2: the first event, with id = position and every member typed.
        assert first.type == "snapshot"
        snap = first.data
        assert isinstance(snap["position"], str) and first.id == snap["position"]
        for table in ("denied", "sessions"):
            assert isinstance(snap[table], dict)
            assert all(isinstance(k, str) and is_instant(v) for k, v in snap[table].items())
        assert isinstance(snap["users"], dict)
        for entry in snap["users"].values():
            assert is_user(entry["revocation"]) and is_instant(entry["forget_at"])
        assert snap["store_cutoff"] is None or (
            len(snap["store_cutoff"]) == 2 and all(map(is_instant, snap["store_cutoff"]))
        )
        assert len(snap["sessions"]) >= 1, "a revocation made before connecting is in it"
        # §3: the server names the reconnection delay before anything else.
        assert stream.retry == 500
        # §3.4: a heartbeat without id, naming the position, fresh.
        beat = stream.next()
        assert beat.type == "heartbeat" and beat.id is None
        assert beat.data == {"position": snap["position"], "fresh": True}
        started = time.monotonic()
        stream.until(lambda e: e.type == "heartbeat", seconds=4)
        assert time.monotonic() - started < 3.5, "heartbeats come every couple of seconds"


def test_each_revocation_kind_arrives_with_its_fields_and_forget_at(feed: Feed) -> None:
    with feed.open() as stream:
        stream.next()  # snapshot
        a, b, c = login(feed.url), login(feed.url), login(feed.url)
        sub = claim(c["access_token"], "sub")

        # sid: a logout; forget_at = the instant + the horizon (§5).
        at = time.time()
        httpx.post(feed.url + "/logout", headers=feed.bearer(a["access_token"]))
        sid = check_revocation(stream.until(revocation_of("sid", me_sid(feed, a)))[-1])
        assert abs(sid["forget_at"] - (at + HORIZON)) < 5

        # jti: an access token revoked; forget_at = its exp (leeway 0).
        httpx.post(feed.url + "/revoke", data={"token": b["access_token"]})
        jti, exp = claim(b["access_token"], "jti"), claim(b["access_token"], "exp")
        denied = check_revocation(stream.until(revocation_of("jti", jti))[-1])
        assert denied["forget_at"] == pytest.approx(exp)

        # user: logout-all sparing this session; the whole state is sent.
        at = time.time()
        httpx.post(
            feed.url + "/logout/all?keep_current=true", headers=feed.bearer(c["access_token"])
        )
        user = check_revocation(stream.until(revocation_of("user", sub))[-1])
        assert user["user"]["keep_sid"] == me_sid(feed, c)
        assert user["user"]["cutoff_at"] == pytest.approx(at, abs=5)
        assert user["user"]["banned_until"] is None
        assert abs(user["forget_at"] - (user["user"]["cutoff_at"] + HORIZON)) < 1e-3

        # user: a ban; banned_until, and a fresh cutoff without keep_sid.
        r = httpx.post(
            f"{feed.url}/admin/users/{sub}/ban",
            json={"until": "2099-01-01T00:00:00Z"},
            headers=feed.admin(),
        )
        assert r.status_code == 204
        ban = check_revocation(stream.until(revocation_of("user", sub))[-1])
        assert ban["user"]["banned_until"] == 4070908800
        assert ban["user"]["keep_sid"] is None
        # A heartbeat confirms the stream is current after the batch.
        beat = stream.until(lambda e: e.type == "heartbeat")[-1]
        assert beat.data["position"] == ban["position"] and beat.data["fresh"] is True


def test_resuming_with_last_event_id_misses_nothing_and_repeats_nothing(feed: Feed) -> None:
    with feed.open() as stream:
        position = stream.next().data["position"]
    sessions = [login(feed.url) for _ in range(3)]
    sids = [me_sid(feed, s) for s in sessions]
    for s in sessions:  # made while disconnected
        httpx.post(feed.url + "/logout", headers=feed.bearer(s["access_token"]))
    time.sleep(0.3)  # let the server's follower read them from the store
    with feed.open({"last-event-id": position}) as stream:
        events = stream.until(lambda e: e.type == "heartbeat")
    assert [e.type for e in events] == ["revocation"] * 3 + ["heartbeat"], "no snapshot"
    assert [check_revocation(e)["key"] for e in events[:3]] == sids, "in store order"
    assert events[-1].data["position"] == events[2].data["position"]
    # Already current: nothing but heartbeats.
    with feed.open({"last-event-id": events[2].data["position"]}) as stream:
        assert stream.next().type == "heartbeat"
    # The query parameter does the same for clients that cannot set headers.
    with feed.open(after=position) as stream:
        assert [e.type for e in stream.until(lambda e: e.type == "heartbeat")][:3] == [
            "revocation"
        ] * 3


@pytest.mark.parametrize("position", ["no-such-position", "9" * 65, "-1"])
def test_a_client_that_fell_behind_gets_a_fresh_snapshot(feed: Feed, position: str) -> None:
    a = login(feed.url)
    httpx.post(feed.url + "/logout", headers=feed.bearer(a["access_token"]))
    with feed.open({"last-event-id": position}) as stream:
        first = stream.next()
    assert first.type == "snapshot"
    assert me_sid(feed, a) in first.data["sessions"]


def test_a_reuse_is_a_session_revocation_on_the_feed(feed: Feed) -> None:
    a = login(feed.url)
    with feed.open() as stream:
        stream.next()
        child = httpx.post(
            feed.url + "/token",
            data={"grant_type": "refresh_token", "refresh_token": a["refresh_token"]},
        )
        assert child.status_code == 200
        replay = httpx.post(
            feed.url + "/token",
            data={"grant_type": "refresh_token", "refresh_token": a["refresh_token"]},
        )
        assert replay.status_code == 400
        check_revocation(stream.until(revocation_of("sid", claim(a["access_token"], "sid")))[-1])


def claim(token: str, name: str) -> Any:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[name]


def me_sid(feed: Feed, tokens: dict[str, Any]) -> str:
    return str(claim(tokens["access_token"], "sid"))
