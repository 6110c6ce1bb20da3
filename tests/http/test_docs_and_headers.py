"""No third-party code on the token server's origin: /docs is a vendored,
pinned Swagger UI under a strict CSP, and every JSON answer carries nosniff
and, unless it says otherwise, no-store."""

from __future__ import annotations

import re

import pytest

from jwtwarden.server import openapi
from tests.http.conftest import Harness


async def test_docs_loads_only_this_origin_under_a_strict_csp(h: Harness) -> None:
    page = await h.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every script and stylesheet is a same-origin path; no inline script.
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/docs/") for s in sources), sources
    assert not re.search(r"<script>(?!</script>)", page.text)
    for source in sources:
        asset = await h.client.get(source)
        assert asset.status_code == 200 and asset.content, source
        assert asset.headers["x-content-type-options"] == "nosniff"
    bundle = await h.client.get("/docs/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.content


async def test_docs_serves_no_other_file(h: Harness) -> None:
    for name in ("index.html", "..%2Fpyproject.toml", "swagger-initializer.js"):
        assert (await h.client.get(f"/docs/{name}")).status_code == 404


async def test_without_the_docs_extra_docs_says_what_to_install(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openapi, "docs_asset", lambda name: None)
    answer = await h.client.get("/docs")
    assert answer.status_code == 404 and "jwtwarden[docs]" in answer.json()["error_description"]


async def test_json_answers_are_nosniff_and_no_store(h: Harness) -> None:
    tokens = await h.login()
    answers = [
        await h.client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        ),
        await h.client.get("/me", headers=h.bearer(tokens["access_token"])),
        await h.client.get("/me"),  # an error
        await h.client.get("/.well-known/oauth-authorization-server"),
    ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert answer.headers["cache-control"] == "no-store", answer.url
    jwks = await h.client.get("/.well-known/jwks.json")
    assert jwks.headers["cache-control"].startswith("public")  # public keys may be cached
    assert jwks.headers["x-content-type-options"] == "nosniff"
