"""The browser DPoP module's proofs (clients/js/dpop.js, WebCrypto in Node)
pass jwtwarden's own proof checks (tokens/dpop.py), and its thumbprint is
the ``jkt`` the server binds tokens to: the two sides agree on the bytes,
not only each with its own test doubles."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from jwtwarden.errors import InvalidDpopProofError
from jwtwarden.tokens.dpop import verify_proof

MODULE = Path(__file__).resolve().parents[2] / "clients" / "js" / "dpop.js"

SCRIPT = """
const { DpopKey, memoryKeyStore } = await import(process.argv[1]);
const key = await DpopKey.load({ store: memoryKeyStore() });
const url = "https://RS.example.test:443/api/./items?page=2#top";
const proofs = {
  token: await key.proof({ method: "POST", url: "http://127.0.0.1:8000/token" }),
  resource: await key.proof({ method: "GET", url, accessToken: "eyJ.access.token", nonce: "n-42" }),
};
console.log(JSON.stringify({ jkt: await key.thumbprint(), proofs }));
"""


@pytest.fixture(scope="module")
def made() -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed for the browser client's tests")
    result = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT, str(MODULE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.node
def test_a_token_endpoint_proof_passes_the_servers_checks(made: dict) -> None:
    proof = verify_proof(
        made["proofs"]["token"], method="POST", uri="http://127.0.0.1:8000/token", now=time.time()
    )
    assert proof.jkt == made["jkt"]


@pytest.mark.node
def test_a_resource_proof_binds_the_token_and_the_nonce(made: dict) -> None:
    """``htu`` as the browser wrote it (host case, default port, dot
    segment) matches the resource server's normalised URL."""
    proof = verify_proof(
        made["proofs"]["resource"],
        method="GET",
        uri="https://rs.example.test/api/items",
        now=time.time(),
        access_token="eyJ.access.token",
        nonces={"n-42"},
    )
    assert proof.jkt == made["jkt"]
    assert proof.nonce == "n-42"
    with pytest.raises(InvalidDpopProofError):
        verify_proof(
            made["proofs"]["resource"],
            method="GET",
            uri="https://rs.example.test/api/items",
            now=time.time(),
            access_token="another.access.token",
            nonces={"n-42"},
        )
