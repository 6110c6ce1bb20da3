"""A verifier in this process, the server in another: revocations made
through the server's API reach the verifier through /revocations."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from jwtwarden import (
    SessionRevokedError,
    StaleRevocationsError,
    TokenDeniedError,
    UserBannedError,
    UserCutoffError,
    Verifier,
)
from jwtwarden.server.endpoints.feed import HEARTBEAT_SECONDS
from tests.e2e.conftest import PASSWORD, Serve, free_port, jwtwarden


def login(url: str, user: str = "alice") -> dict[str, str]:
    r = httpx.post(
        url + "/token", data={"grant_type": "password", "username": user, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def rejected_within(
    verifier: Verifier, token: str, error: type[Exception], seconds: float = 3.0
) -> float:
    """Seconds until the verifier rejects ``token`` with ``error``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            verifier.verify(token)
        except error:
            return time.monotonic() - start
        time.sleep(0.002)  # waiting on another process, not on a time rule
    raise AssertionError(f"{error.__name__} not raised within {seconds}s")


def make_verifier(url: str, creds: dict[str, str], **kwargs: object) -> Verifier:
    meta = httpx.get(url + "/.well-known/oauth-authorization-server").json()
    verifier = Verifier(
        issuer=meta["issuer"],
        audience="jwtwarden",
        jwks_url=meta["jwks_uri"],
        feed=url + "/revocations",
        feed_credentials=(creds["client_id"], creds["client_secret"]),
        **kwargs,
    )  # type: ignore[arg-type]
    assert verifier.feed is not None and verifier.feed.wait_ready(10)
    return verifier


@pytest.fixture
def creds(tmp_path: Path) -> Callable[[], dict[str, str]]:
    def make() -> dict[str, str]:
        return dict(
            json.loads(
                jwtwarden(
                    "clients", "add", f"rs-{time.monotonic_ns()}", cwd=tmp_path, env={**os.environ}
                )
            )
        )

    return make


def test_every_kind_of_revocation_reaches_a_remote_verifier(
    serve: Serve, creds: Callable[[], dict[str, str]]
) -> None:
    with serve(workers=2) as url:
        verifier = make_verifier(url, creds())
        root = {"authorization": f"Bearer {login(url, 'root')['access_token']}"}
        try:
            a, b, c = login(url), login(url), login(url)
            for t in (a, b, c):
                verifier.verify(t["access_token"])
            httpx.post(url + "/logout", headers={"authorization": f"Bearer {a['access_token']}"})
            rejected_within(verifier, a["access_token"], SessionRevokedError)
            httpx.post(url + "/revoke", data={"token": b["access_token"]})
            rejected_within(verifier, b["access_token"], TokenDeniedError)
            verifier.verify(c["access_token"])
            sub = verifier.verify(c["access_token"]).sub
            httpx.post(f"{url}/admin/users/{sub}/revoke", headers=root)
            rejected_within(verifier, c["access_token"], UserCutoffError)
            time.sleep(0.01)  # a login strictly after the cutoff instant
            d = login(url)
            verifier.verify(d["access_token"])
            httpx.post(
                f"{url}/admin/users/{sub}/ban", json={"until": "2099-01-01T00:00:00Z"}, headers=root
            )
            rejected_within(verifier, d["access_token"], UserBannedError)
        finally:
            verifier.close()


def test_the_feed_reconnects_without_losing_what_happened_meanwhile(
    serve: Serve, creds: Callable[[], dict[str, str]], tmp_path: Path
) -> None:
    port = free_port()
    with serve(port=port) as url:
        verifier = make_verifier(url, creds(), max_staleness=60)
        a, b = login(url), login(url)
        sid_b = verifier.verify(b["access_token"]).sid
        # A dropped connection: the revocation made meanwhile still arrives.
        assert verifier.feed is not None
        verifier.feed.disconnect()
        httpx.post(url + "/logout", headers={"authorization": f"Bearer {a['access_token']}"})
        rejected_within(verifier, a["access_token"], SessionRevokedError)
        assert verifier.feed.connections >= 2
    # The server is down; a revocation is made directly on its store.
    jwtwarden("sessions", "revoke", sid_b, cwd=tmp_path, env={**os.environ})
    with serve(port=port):
        try:
            rejected_within(verifier, b["access_token"], SessionRevokedError, seconds=10)
        finally:
            verifier.close()


def test_a_silent_feed_fails_closed_or_open_as_configured(
    serve: Serve, creds: Callable[[], dict[str, str]]
) -> None:
    # max_staleness above the server's heartbeat interval (2 s): with less, a
    # verifier is stale between two heartbeats of a live server, and the
    # first verify below fails whenever the setup takes longer than that.
    staleness = HEARTBEAT_SECONDS * 1.5
    with serve() as url:
        closed = make_verifier(url, creds(), max_staleness=staleness)
        opened = make_verifier(url, creds(), max_staleness=staleness, on_stale="allow")
        token = login(url)["access_token"]
        closed.verify(token)
        opened.verify(token)
        assert closed.is_fresh()
    try:
        rejected_within(closed, token, StaleRevocationsError, seconds=staleness + 5)
        assert not closed.is_fresh()
        assert opened.verify(token).sub  # on_stale="allow": the view as it is
    finally:
        closed.close()
        opened.close()
