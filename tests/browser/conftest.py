"""The browser suite: Playwright for Python driving Debian's chromium
(``/usr/bin/chromium``; Playwright cannot download a browser here) against
the real ``jwtwarden serve`` on a free loopback port, with a 3-second access
token so expiry happens during a test.

Every test is marked ``browser``: without chromium or Playwright it skips
locally and fails under ``CI=true``. Every page of every test reports
Content-Security-Policy violations; any one fails the test that saw it.
Screenshots go to ``docs/screenshots/`` when ``JWTWARDEN_SCREENSHOTS=1``
(how the README's are made), to the test's folder otherwise.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, free_port, serving

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
#: The access-token lifetime of the test server: short enough to expire
#: inside a test, long enough for a page to load and act on a shared machine.
ACCESS_TTL = 3
#: As the machine's probe starts it: no sandbox (root), no GPU, and none of
#: the background connections this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Registered on every page before its own scripts run (over CDP, so the
#: page's CSP does not apply to it): each violation becomes a console line.
CSP_PROBE = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


# Package scope, not session: Playwright's sync API keeps an event loop
# running on this thread while it lives, and every asyncio test after this
# folder would then fail ("Runner.run() cannot be called from a running
# event loop").
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (the test extra)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        print(f"\nbrowser suite: {CHROMIUM} {launched.version}")
        yield launched
        launched.close()


@dataclass
class Server:
    url: str
    #: The second origin (another loopback port) listed in allowed_origins.
    spa_url: str
    #: A third origin that is not listed.
    stranger_url: str
    names: Iterator[int] = field(default_factory=itertools.count)

    def new_user(self) -> str:
        """A user of the test's own, so device lists never mix tests."""
        name = f"user{next(self.names)}"
        admin = httpx.post(
            f"{self.url}/token",
            data={"grant_type": "password", "username": "root", "password": PASSWORD},
        ).json()["access_token"]
        r = httpx.post(
            f"{self.url}/admin/users",
            json={"username": name, "password": PASSWORD},
            headers={"authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 201, r.text
        return name

    def metric(self, name: str) -> float:
        """A counter of ``/metrics``: rotations are ``jwtwarden_refreshes_total``
        (a grace replay is not one), reuse ``jwtwarden_reuse_detected_total``."""
        text = httpx.get(f"{self.url}/metrics").text
        found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
        return float(found[1]) if found else 0.0


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    spa_port, stranger_port = free_port(), free_port()
    spa_url, stranger_url = f"http://127.0.0.1:{spa_port}", f"http://127.0.0.1:{stranger_port}"
    run = serving(tmp_path_factory.mktemp("browser-server"))
    with (
        run(
            insecure_cookies="true",
            access_ttl=str(ACCESS_TTL),
            allowed_origins=spa_url,
        ) as url,
        _spa(spa_port, url),
        _spa(stranger_port, url),
    ):
        yield Server(url, spa_url, stranger_url)


@contextlib.contextmanager
def _spa(port: int, auth_url: str) -> Iterator[None]:
    """A single-page app on another origin: a page whose module imports the
    client from the jwtwarden server (a cross-origin module script, so CORS
    applies to it too) and talks to that server with credentials."""
    page = (
        b"<!doctype html><title>SPA</title>"
        b'<script type="module" src="/spa.js"></script><p id="state">loading</p>'
    )
    script = (
        f'import {{ createClient }} from "{auth_url}/account/jwtwarden.js";\n'
        f'window.spa = createClient({{ baseUrl: "{auth_url}" }});\n'
        'document.getElementById("state").textContent = "ready";\n'
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body, kind = (
                (script, "text/javascript") if self.path == "/spa.js" else (page, "text/html")
            )
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Browsing:
    """New contexts and pages for one test, each watched for CSP violations."""

    browser: Any
    server: Server
    violations: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def context(self, **options: Any) -> Any:
        made = self.browser.new_context(**options)
        made.set_default_timeout(10_000)
        made.add_init_script(CSP_PROBE)
        made.on("console", self._console)
        self.contexts.append(made)
        return made

    def page(self, context: Any | None = None, path: str | None = "/account") -> Any:
        page = (context or self.context()).new_page()
        if path is not None:
            page.goto(self.server.url + path)
        return page

    def _console(self, message: Any) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            self.violations.append(text)


@pytest.fixture
def browsing(browser: Any, server: Server) -> Iterator[Browsing]:
    b = Browsing(browser, server)
    yield b
    for made in b.contexts:
        made.close()
    assert b.violations == [], b.violations


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("JWTWARDEN_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(exist_ok=True)
        return folder
    return tmp_path


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    """Fill the form by its accessible names and wait for the device list."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector('body[data-state="signed-in"]')


def devices(page: Any) -> list[str]:
    return [item.inner_text() for item in page.locator("#session-list li").all()]
