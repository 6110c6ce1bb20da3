"""Verifier.from_env / from_server: revocations are followed unless turned
off explicitly, and what a deployment gets wrong is said at start-up."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jwtwarden import ConfigurationError, Verifier

ROOT = Path(__file__).resolve().parents[2]
#: Nothing listens on the discard port: connections are refused at once.
NOWHERE = "http://127.0.0.1:9"


def test_without_credentials_it_refuses_to_start_and_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Verifier.from_env({"JWTWARDEN_ISSUER": NOWHERE})
    message = caught.value.description
    assert "JWTWARDEN_CLIENT_ID" in message and "JWTWARDEN_CLIENT_SECRET" in message
    assert "jwtwarden clients add" in message and "JWTWARDEN_REVOCATIONS=off" in message


def test_revocations_off_is_explicit_and_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "jwtwarden.verifier"):
        verifier = Verifier.from_env(
            {"JWTWARDEN_ISSUER": NOWHERE + "/", "JWTWARDEN_REVOCATIONS": "off"},
            startup_timeout=0.5,
        )
    try:
        assert verifier.issuer == NOWHERE and verifier.feed is None
        assert verifier.audience == "jwtwarden" and verifier.jwks is not None
        warned = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("revocations are OFF" in r.getMessage() for r in warned)
        # The issuer did not answer: said once, at start-up, and not ready.
        assert any("cannot be fetched" in r.getMessage() for r in caplog.records)
        assert not verifier.is_fresh()
    finally:
        verifier.close()


def test_an_unknown_revocations_value_is_a_start_up_error() -> None:
    with pytest.raises(ConfigurationError, match="JWTWARDEN_REVOCATIONS"):
        Verifier.from_env({"JWTWARDEN_ISSUER": NOWHERE, "JWTWARDEN_REVOCATIONS": "no"})


def test_with_credentials_it_follows_the_feed() -> None:
    verifier = Verifier.from_env(
        {
            "JWTWARDEN_ISSUER": NOWHERE,
            "JWTWARDEN_AUDIENCE": "orders",
            "JWTWARDEN_CLIENT_ID": "rs_x",
            "JWTWARDEN_CLIENT_SECRET": "s",
        },
        max_staleness=3,
        startup_timeout=0.5,
    )
    try:
        assert verifier.feed is not None and verifier.feed.url == NOWHERE + "/revocations"
        assert verifier.audience == "orders" and verifier.max_staleness == 3
        assert not verifier.is_fresh()  # nothing heard yet: fail closed
    finally:
        verifier.close()


def test_the_issuers_access_ttl_bounds_a_tokens_lifetime() -> None:
    env = {"JWTWARDEN_ISSUER": NOWHERE, "JWTWARDEN_REVOCATIONS": "off"}
    verifier = Verifier.from_env({**env, "JWTWARDEN_ACCESS_TTL": "300"}, startup_timeout=0.1)
    try:
        assert verifier.max_lifetime == 300
    finally:
        verifier.close()
    for bad in ("five", "0", "-1", "nan", "inf"):
        with pytest.raises(ConfigurationError, match="JWTWARDEN_ACCESS_TTL is a positive"):
            Verifier.from_env({**env, "JWTWARDEN_ACCESS_TTL": bad})
    with pytest.raises(ConfigurationError, match="JWTWARDEN_MAX_STALENESS is a positive"):
        Verifier.from_env({**env, "JWTWARDEN_MAX_STALENESS": "nan"})


Handler = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def fake_issuer() -> Iterator[Callable[[dict[str, Handler]], str]]:
    """A tiny HTTP server answering given paths, for start-up checks."""
    servers: list[ThreadingHTTPServer] = []

    def start(routes: dict[str, Handler]) -> str:
        class Answer(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                handler = routes.get(self.path.split("?")[0])
                if handler is None:
                    self.send_error(404)
                else:
                    handler(self)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def json_answer(status: int, body: object) -> Handler:
    def answer(request: BaseHTTPRequestHandler) -> None:
        raw = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("content-type", "application/json")
        request.send_header("content-length", str(len(raw)))
        request.end_headers()
        request.wfile.write(raw)

    return answer


def test_refused_credentials_are_a_start_up_error_naming_status_and_reason(
    fake_issuer: Callable[[dict[str, Handler]], str], caplog: pytest.LogCaptureFixture
) -> None:
    refusal = {"error": "invalid_client", "error_description": "Client authentication failed."}
    url = fake_issuer(
        {
            "/.well-known/jwks.json": json_answer(200, {"keys": []}),
            "/revocations": json_answer(401, refusal),
        }
    )
    with (
        caplog.at_level(logging.ERROR, "jwtwarden.verifier.feed"),
        pytest.raises(ConfigurationError) as caught,
    ):
        Verifier.from_server(url, client_id="rs_x", client_secret="wrong")
    assert "HTTP 401" in caught.value.description
    assert "Client authentication failed." in caught.value.description
    assert "JWTWARDEN_CLIENT_SECRET" in caught.value.description
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "HTTP 401: invalid_client: Client authentication failed." in logged.getMessage()


def test_a_wrong_issuer_or_audience_is_a_start_up_error(
    fake_issuer: Callable[[dict[str, Handler]], str],
) -> None:
    metadata: dict[str, object] = {}
    url = fake_issuer(
        {
            "/.well-known/oauth-authorization-server": lambda r: json_answer(200, metadata)(r),
            "/.well-known/jwks.json": json_answer(200, {"keys": []}),
        }
    )
    metadata.update(issuer=url + "/auth", jwtwarden_access_token_audience="jwtwarden")
    with pytest.raises(ConfigurationError, match="JWTWARDEN_ISSUER"):
        Verifier.from_server(url, revocations="off")
    metadata.update(issuer=url, jwtwarden_access_token_audience="billing")
    with pytest.raises(ConfigurationError, match="JWTWARDEN_AUDIENCE"):
        Verifier.from_server(url, audience="orders", revocations="off")


def _import_in_a_fresh_interpreter(
    module: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "module",
    ["examples.django_app.verifier", "examples.starlette_app", "examples.fastapi_app"],
)
def test_each_example_module_imports_without_building_a_verifier_but_django_s(
    module: str,
) -> None:
    """The ASGI examples are factories (``uvicorn --factory``), so importing
    them builds nothing; Django's verifier module is built on import, and
    without credentials that stops the process with the fix."""
    result = _import_in_a_fresh_interpreter(module, {"JWTWARDEN_ISSUER": NOWHERE})
    if module.endswith("verifier"):
        assert result.returncode != 0
        assert "JWTWARDEN_CLIENT_ID" in result.stderr and "jwtwarden clients add" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
