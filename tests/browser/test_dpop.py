"""DPoP in Chromium (issue 14): a single-page app on another origin binds
its tokens to a non-extractable WebCrypto key kept in IndexedDB
(clients/js/dpop.js), against the real server. The tokens, taken out of
the page into another browser context that lacks the key, open nothing
there, whether presented as they are or with a key of the thief's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Browsing
from tests.e2e.conftest import PASSWORD

pytestmark = pytest.mark.browser

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"

#: In the page: load (or make) the key, and report what a script can learn
#: about it.
KEY_FACTS = """async () => {
  const key = await dpop.DpopKey.load();
  let exported = "refused";
  try { await crypto.subtle.exportKey("jwk", key.pair.privateKey); exported = "exported"; }
  catch (e) { exported = e.name; }
  return { jkt: await key.thumbprint(), extractable: key.pair.privateKey.extractable, exported };
}"""

SIGN_IN = """async ([auth, username, password]) => {
  const key = await dpop.DpopKey.load();
  window.auth = new dpop.DpopClient({ key, baseUrl: auth });
  await window.auth.login(username, password);
  const me = await window.auth.fetch(auth + "/me");
  return { status: me.status, me: await me.json(), tokens: window.auth.tokens };
}"""

#: In the thief's page: the stolen tokens with a key of its own.
WITH_OWN_KEY = """async ([auth, tokens]) => {
  const key = await dpop.DpopKey.load();
  const thief = new dpop.DpopClient({ key, baseUrl: auth });
  thief._tokens.write(tokens);
  const me = await fetch(auth + "/me", {
    headers: {
      authorization: "DPoP " + tokens.access_token,
      dpop: await key.proof({ method: "GET", url: auth + "/me", accessToken: tokens.access_token }),
    },
  });
  let refresh;
  try { await thief.refresh(); refresh = "refreshed"; }
  catch (e) { refresh = e.error ?? String(e); }
  return { me: me.status, refresh, jkt: await key.thumbprint() };
}"""


def app_page(browsing: Browsing, context: Any | None = None) -> Any:
    """A page of the SPA's own (allowed) origin with the module loaded as an
    app that bundles the npm package would, from that origin: the
    repository's clients/js files answer ``/dpop-app/*.js``. The page
    itself comes from the SPA's real loopback server (a page Playwright
    made up would have no address, and Chromium's local-network rules would
    then block its calls to the loopback server)."""
    context = context or browsing.context()
    spa = browsing.server.spa_url

    def fulfil(route: Any) -> None:
        name = route.request.url.rsplit("/", 1)[-1]
        route.fulfill(body=(CLIENT / name).read_bytes(), content_type="text/javascript")

    context.route(f"{spa}/dpop-app/dpop.js", fulfil)
    context.route(f"{spa}/dpop-app/jwtwarden.js", fulfil)
    page = context.new_page()
    load(page, f"{spa}/dpop-app/")
    return page


def load(page: Any, url: str | None = None) -> None:
    if url is None:
        page.reload()
    else:
        page.goto(url)
    page.evaluate("async () => { window.dpop = await import('/dpop-app/dpop.js'); }")


def test_the_key_cannot_be_read_and_survives_a_reload(browsing: Browsing) -> None:
    page = app_page(browsing)
    first = page.evaluate(KEY_FACTS)
    assert first["extractable"] is False
    assert first["exported"] == "InvalidAccessError"
    load(page)
    assert page.evaluate(KEY_FACTS)["jkt"] == first["jkt"]
    # Another browser profile has its own IndexedDB, so its own key.
    assert app_page(browsing).evaluate(KEY_FACTS)["jkt"] != first["jkt"]


def test_tokens_taken_out_of_the_page_do_not_work_without_its_key(browsing: Browsing) -> None:
    server = browsing.server
    username = server.new_user()
    page = app_page(browsing)
    jkt = page.evaluate(KEY_FACTS)["jkt"]
    signed_in = page.evaluate(SIGN_IN, [server.url, username, PASSWORD])
    assert signed_in["status"] == 200
    assert signed_in["me"]["cnf"] == {"jkt": jkt}
    stolen = signed_in["tokens"]

    # Outside any browser, as they are: the access token as Bearer, the
    # refresh token without a proof.
    bearer = httpx.get(
        f"{server.url}/me", headers={"authorization": f"Bearer {stolen['access_token']}"}
    )
    assert bearer.status_code == 401
    plain = httpx.post(
        f"{server.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": stolen["refresh_token"]},
    )
    assert plain.status_code == 400
    assert plain.json()["error"] in ("invalid_dpop_proof", "invalid_request", "invalid_grant")

    # In another browser context, with a key of the thief's own.
    thief = app_page(browsing).evaluate(WITH_OWN_KEY, [server.url, stolen])
    assert thief["jkt"] != jkt
    assert thief["me"] == 401
    assert thief["refresh"] != "refreshed"

    # Nothing the thief did changed the session: the page still refreshes.
    refreshed = page.evaluate(
        """async (auth) => {
          const before = window.auth.tokens.refresh_token;
          await window.auth.refresh();
          const me = await window.auth.fetch(auth + "/me");
          return { rotated: window.auth.tokens.refresh_token !== before, me: me.status };
        }""",
        server.url,
    )
    assert refreshed == {"rotated": True, "me": 200}
