"""``GET /account``: the "your devices" page, and its assets under
``/account/`` (``jwtwarden.js``, the browser client of ``clients/js``, which
the page itself uses, ``account.js`` and ``account.css``).

Plain files shipped in the package (``static/account/``), read once, no build
step. The page is HTML with no inline script or style, under
``ACCOUNT_PAGE_POLICY``. It names each asset with ``?v=<hash of its bytes>``:
such a URL is cached for a year (``immutable``); the page itself and an asset
asked for without its current version are revalidated (``no-cache`` with an
``ETag``), so a new release reaches every browser at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .headers import ACCOUNT_PAGE_POLICY

__all__ = ["AccountPage"]

_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    version: str
    media_type: str


def _version(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


class AccountPage:
    """The page and its assets, loaded from the package once."""

    def __init__(self) -> None:
        folder = files("jwtwarden.server") / "static" / "account"
        client = (folder / "jwtwarden.js").read_bytes()
        # The page's script imports the client by its versioned URL, so the
        # two are cached (and replaced) together.
        script = (
            (folder / "account.js")
            .read_bytes()
            .replace(
                b'from "./jwtwarden.js"', f'from "./jwtwarden.js?v={_version(client)}"'.encode()
            )
        )
        bodies = {
            "jwtwarden.js": client,
            "account.js": script,
            "account.css": (folder / "account.css").read_bytes(),
        }
        self._assets = {
            name: _Asset(body, _version(body), _TYPES[name.rsplit(".", 1)[1]])
            for name, body in bodies.items()
        }
        html = (folder / "index.html").read_text(encoding="utf-8")
        for name, asset in self._assets.items():
            html = html.replace(f'"{name}"', f'"/account/{name}?v={asset.version}"')
        self._html = html.encode()

    def routes(self) -> list[Route]:
        return [
            Route("/account", self.page, methods=["GET"]),
            Route("/account/{name}", self.asset, methods=["GET"]),
        ]

    async def page(self, request: Request) -> Response:
        return Response(
            self._html,
            media_type="text/html; charset=utf-8",
            headers={
                "content-security-policy": ACCOUNT_PAGE_POLICY,
                "x-frame-options": "DENY",
                "referrer-policy": "no-referrer",
                "cache-control": "no-cache",
            },
        )

    async def asset(self, request: Request) -> Response:
        asset = self._assets.get(request.path_params["name"])
        if asset is None:
            raise HTTPException(404)
        etag = f'"{asset.version}"'
        headers = {
            "etag": etag,
            "cache-control": _IMMUTABLE
            if request.query_params.get("v") == asset.version
            else "no-cache",
            # A listed front end receives CORS headers (server/cors.py); a
            # cache must not hand that answer to another origin.
            "vary": "Origin",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
