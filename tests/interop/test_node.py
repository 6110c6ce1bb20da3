"""Node verifiers, unchanged and with their defaults, against a real
server's default tokens: ``jose`` (``jwtVerify`` with
``createRemoteJWKSet``) and oauth4webapi's RFC 9068
``validateJwtAccessToken``. Both take every algorithm jwtwarden publishes,
under either Ed25519 name, and reject tampered, badly signed and expired
tokens.

The packages come from ``tests/interop/node/package-lock.json`` (``npm ci``,
run by ``.ci/run``); without node or them the tests skip, which fails under
``CI=true``.
"""

from __future__ import annotations

import pytest

from .conftest import ALGORITHMS, Server, resigned_garbage, run_node_script, tampered

pytestmark = pytest.mark.node


def run_node(server: Server, tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    request = {"metadata": server.metadata, "audience": "jwtwarden", "tokens": tokens}
    return run_node_script("verify.mjs", "jose", request)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_jose_and_oauth4webapi_accept_fresh_tokens_and_reject_bad_ones(
    servers: dict[str, Server], alg: str
) -> None:
    server = servers[alg]
    tokens = {
        "fresh": server.token(),
        "tampered": tampered(server.token()),
        "bad-signature": resigned_garbage(server.token()),
        "expired": server.expired,
    }
    results = run_node(server, tokens)
    for library in ("jose", "oauth4webapi"):
        outcome = results[library]
        assert outcome["fresh"] == "ok", (library, outcome)
        for bad in ("tampered", "bad-signature", "expired"):
            assert outcome[bad] != "ok", (library, bad)
    assert results["jose"]["expired"].startswith("ERR_JWT_EXPIRED")
    assert results["jose"]["tampered"].startswith("ERR_JWS_SIGNATURE_VERIFICATION_FAILED")
