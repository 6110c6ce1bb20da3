"""Reading requests safely: bounded bodies, strict forms and JSON, the
client IP behind trusted proxies, and bearer or cookie credentials.

Every reader raises a :class:`~jwtwarden.server.errors.HttpError` or an
``InvalidRequestError`` with a clear description; none lets a malformed
input through or crashes.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..errors import InvalidRequestError
from .errors import HttpError

__all__ = [
    "BOOLEAN_QUERY",
    "TrustedProxies",
    "authorization",
    "client_ip",
    "read_form",
    "read_json",
]

#: The values a boolean query parameter may take (anything else is refused).
BOOLEAN_QUERY = ("true", "false", "1", "0", "yes", "no")
#: The largest body any endpoint accepts.
MAX_BODY = 64 * 1024
#: The longest single form field (tokens are < 8 KiB).
MAX_FIELD = 8 * 1024
_M = TypeVar("_M", bound=BaseModel)


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 past :data:`MAX_BODY` (checked while
    streaming, so a lying Content-Length does not help)."""
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        raise InvalidRequestError("The Content-Length header is malformed.")
    if declared is not None and int(declared) > MAX_BODY:
        raise HttpError(413, "invalid_request", "The request body is too large.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HttpError(413, "invalid_request", "The request body is too large.")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (RFC 6749 §3.2): UTF-8,
    no parameter repeated, every field bounded."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise HttpError(
            415, "invalid_request", "Use Content-Type: application/x-www-form-urlencoded."
        )
    body = await read_body(request)
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=64
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError("The form body is malformed.") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequestError(f"The parameter {name!r} appears more than once.")
        if len(value) > MAX_FIELD or "\x00" in value:
            raise InvalidRequestError(f"The parameter {name!r} is too long or malformed.")
        form[name] = value
    return form


async def read_json(request: Request, model: type[_M]) -> _M:
    """A JSON object body validated by ``model`` (unknown fields refused)."""
    if _media_type(request) != "application/json":
        raise HttpError(415, "invalid_request", "Use Content-Type: application/json.")
    body = await read_body(request)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError("The body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidRequestError(f"Invalid {where}: {first['msg']}.") from None


def authorization(request: Request) -> str | None:
    """The one ``Authorization`` header, if any. Two are refused (400
    ``invalid_request``): RFC 6750 §2 allows one method per request, and
    letting the first (or the last) win would make a proxy and this server
    disagree about who is calling."""
    # Read from the raw ASGI list: Starlette's Headers object costs GET /me
    # 2 µs of its 16 per request (in process, 2026-12-02).
    found: str | None = None
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            if found is not None:
                raise InvalidRequestError("Send one Authorization header, not several.")
            found = value.decode("latin-1")
    return found


def require(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequestError(f"The parameter {name!r} is required.")
    return value


class TrustedProxies:
    """Proxies whose ``X-Forwarded-For`` is believed (IPs or CIDR networks)."""

    def __init__(self, spec: str) -> None:
        self._networks = [
            ipaddress.ip_network(item.strip(), strict=False)
            for item in spec.split(",")
            if item.strip()
        ]
        #: Verdicts on the addresses seen last: parsing an address costs
        #: 12 to 16 µs on this machine, busy (2026-12-02), a dict look-up
        #: 0.1, and a refresh grant asks for every request.
        self._seen: dict[str, bool] = {}

    def __contains__(self, address: object) -> bool:
        if not self._networks:
            return False
        text = str(address)
        verdict = self._seen.get(text)
        if verdict is None:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                verdict = False
            else:
                verdict = any(ip in net for net in self._networks)
            if len(text) <= 64:  # a peer or a hop, not any header text
                if len(self._seen) >= _SEEN_ADDRESSES:
                    self._seen.clear()
                self._seen[text] = verdict
        return verdict


#: The most verdicts :class:`TrustedProxies` remembers (emptied when full):
#: at most about 0.5 MB.
_SEEN_ADDRESSES = 4096


def client_ip(request: Request, trusted: TrustedProxies) -> str | None:
    """The client address: the socket peer, unless that peer is a trusted
    proxy; then the right-most ``X-Forwarded-For`` hop that is not one.
    A client cannot spoof its address by sending the header itself."""
    peer = request.client.host if request.client else None
    if peer is None or peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def json_body(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
