"""The real server process, spoken to by libraries nobody here wrote."""

from __future__ import annotations

import threading
import time

import httpx
import jwt
from authlib.integrations.requests_client import OAuth2Session

from tests.e2e.conftest import PASSWORD, Serve


def test_an_ordinary_oauth_client_logs_in_and_refreshes(serve: Serve) -> None:
    with serve() as url:
        meta = httpx.get(url + "/.well-known/oauth-authorization-server").json()
        with OAuth2Session(client_id="my-app", token_endpoint_auth_method="none") as client:
            _use_the_oauth_client(client, url, meta)


def _use_the_oauth_client(client: OAuth2Session, url: str, meta: dict) -> None:  # type: ignore[type-arg]
    token = client.fetch_token(
        meta["token_endpoint"], grant_type="password", username="alice", password=PASSWORD
    )
    assert token["token_type"] == "Bearer" and token["expires_in"] == 300
    me = client.get(url + "/me")
    assert me.status_code == 200
    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]

    # PyJWT's own JWKS client verifies the access token from jwks_uri.
    keys = jwt.PyJWKClient(meta["jwks_uri"])
    signing_key = keys.get_signing_key_from_jwt(refreshed["access_token"])
    claims = jwt.decode(
        refreshed["access_token"],
        signing_key.key,
        algorithms=["EdDSA"],
        audience="jwtwarden",
        issuer=meta["issuer"],
    )
    assert claims["sub"] == me.json()["sub"] and claims["auth_time"] == me.json()["auth_time"]


def _theft(url: str) -> None:
    login = httpx.post(
        url + "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    ).json()
    victim = httpx.post(
        url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
    ).json()
    attacker = httpx.post(
        url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
    )
    assert (attacker.status_code, attacker.json()["error"]) == (400, "invalid_grant")
    again = httpx.post(
        url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": victim["refresh_token"]},
    )
    assert again.status_code == 400
    # Another worker learns of the revocation from the feed within its poll
    # interval (50 ms on SQLite); the one that revoked knows at once.
    deadline = time.monotonic() + 2
    while True:
        me = httpx.get(url + "/me", headers={"authorization": f"Bearer {victim['access_token']}"})
        if me.status_code == 401 or time.monotonic() > deadline:
            break
    assert me.status_code == 401


def test_the_seed_theft_scenario_over_http(serve: Serve) -> None:
    with serve(refresh_grace="0") as url:
        _theft(url)


def _race(url: str, refresh_token: str, n: int) -> list[httpx.Response]:
    barrier, results, lock = threading.Barrier(n), [], threading.Lock()

    def one() -> None:
        with httpx.Client() as client:
            barrier.wait()
            r = client.post(
                url + "/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                timeout=30,
            )
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_workers_on_sqlite_keep_one_lineage_and_catch_theft(serve: Serve) -> None:
    with serve(workers=2, refresh_grace="0") as url:
        _theft(url)
    with serve(workers=2) as url:
        login = httpx.post(
            url + "/token",
            data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        ).json()
        results = _race(url, login["refresh_token"], 50)
        assert len(results) == 50
        ok = {r.json()["refresh_token"] for r in results if r.status_code == 200}
        assert len(ok) == 1, [r.text for r in results if r.status_code != 200][:3]
        nxt = httpx.post(
            url + "/token", data={"grant_type": "refresh_token", "refresh_token": ok.pop()}
        )
        assert nxt.status_code == 200


def test_clients_add_and_introspection(serve: Serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os

    from tests.e2e.conftest import jwtwarden

    with serve() as url:
        env = {**os.environ}
        creds = json.loads(jwtwarden("clients", "add", "orders-api", cwd=tmp_path, env=env))
        assert set(creds) == {"client_id", "client_secret"}
        token = httpx.post(
            url + "/token",
            data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        ).json()["access_token"]
        r = httpx.post(
            url + "/introspect",
            data={"token": token},
            auth=(creds["client_id"], creds["client_secret"]),
        )
        assert r.status_code == 200 and r.json()["active"] is True
