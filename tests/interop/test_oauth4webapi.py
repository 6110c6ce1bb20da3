"""panva's oauth4webapi (npm, unchanged) as the DPoP client of a real
``jwtwarden serve``: a password grant, a refresh and ``GET /me``, all with
its own DPoP proofs; with server nonces on, each first try is answered
``use_dpop_nonce`` and its retry succeeds. The tokens it ends with are bound:
the refresh token does not work without its key.

The package comes from ``tests/interop/node/package-lock.json`` (``npm ci``);
without node or it the tests skip, which fails under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, serving

from .conftest import run_node_script

pytestmark = pytest.mark.node


@pytest.fixture(scope="module", params=["nonces-off", "nonces-on"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    nonces = "true" if request.param == "nonces-on" else "false"
    with serving(tmp_path_factory.mktemp("oauth4webapi"))(dpop_nonces=nonces) as url:
        yield url


def run_client(url: str) -> dict[str, Any]:
    metadata = httpx.get(f"{url}/.well-known/oauth-authorization-server", timeout=10).json()
    request = {"metadata": metadata, "username": "alice", "password": PASSWORD}
    return run_node_script("dpop.mjs", "oauth4webapi", request)


def test_oauth4webapi_logs_in_refreshes_and_calls_me_with_dpop(server: str) -> None:
    result = run_client(server)
    assert [s["step"] for s in result["steps"]] == ["password", "refresh", "me"]
    assert [t.lower() for t in result["token_types"]] == ["dpop", "dpop"]
    assert result["me"]["sub"] and result["me"]["cnf"]["jkt"]
    # The refresh token it holds is bound: without oauth4webapi's key it is refused.
    stolen = httpx.post(
        f"{server}/token",
        data={"grant_type": "refresh_token", "refresh_token": result["refresh_token"]},
        timeout=10,
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_dpop_proof"
    # And the access token is refused as a Bearer token.
    me = httpx.get(
        f"{server}/me", headers={"authorization": f"Bearer {result['access_token']}"}, timeout=10
    )
    assert me.status_code == 401


def test_with_nonces_on_oauth4webapi_retries_once_after_use_dpop_nonce(
    server: str, request: pytest.FixtureRequest
) -> None:
    result = run_client(server)
    retried = {s["step"]: s["nonce_retry"] for s in result["steps"]}
    if "nonces-on" in request.node.callspec.id:
        # The first request has no nonce yet; oauth4webapi keeps the one
        # every answer carries, so the refresh goes through at once.
        assert retried == {"password": True, "refresh": False, "me": False}
    else:
        assert retried == {"password": False, "refresh": False, "me": False}
