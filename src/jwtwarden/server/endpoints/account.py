"""The caller's own account: /me, /sessions, /logout, /logout/all, /password.
Each accepts the bearer header or the browser-mode cookie."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...core import inputs
from ...errors import InvalidRequestError, NotFoundError
from ..requests import BOOLEAN_QUERY, read_json
from .context import context, revokes
from .models import PasswordChange, SessionOut

__all__ = ["end_session", "logout", "logout_all", "me", "password", "sessions"]


async def me(request: Request) -> Response:
    claims, _ = await context(request).caller(request)
    return Response(claims.payload_json, headers=_NO_STORE, media_type="application/json")


_NO_STORE = {"cache-control": "no-store"}


async def sessions(request: Request) -> Response:
    ctx = context(request)
    claims, _ = await ctx.caller(request)
    found = await ctx.service.list_sessions(claims.sub)
    return JSONResponse(
        [SessionOut.of(s, claims.sid).model_dump() for s in found],
        headers={"cache-control": "no-store"},
    )


@revokes
async def end_session(request: Request) -> Response:
    """End one of the caller's sessions; another user's is a 404 (not 403)
    so session ids cannot be probed."""
    ctx = context(request)
    claims, _ = await ctx.caller(request)
    sid = request.path_params["sid"]
    found = await ctx.service.store.get_session(sid) if inputs.is_sid(sid) else None
    if found is None or found[0].sub != claims.sub or found[0].revoked_at is not None:
        raise NotFoundError("No such session.")
    await ctx.service.revoke_session(sid, reason="logout")
    return Response(status_code=204)


@revokes
async def logout(request: Request) -> Response:
    """End the current session; idempotent (a second logout, or one with an
    expired token, is still 204)."""
    ctx = context(request)
    claims, via_cookie = await ctx.ending(request)
    await ctx.service.logout(claims)
    response = Response(status_code=204)
    if via_cookie:
        ctx.cookies.clear(response)
    return response


@revokes
async def logout_all(request: Request) -> Response:
    ctx = context(request)
    claims, via_cookie = await ctx.caller(request)
    keep_current = request.query_params.get("keep_current", "false")
    if keep_current not in BOOLEAN_QUERY:
        raise InvalidRequestError("keep_current is true or false.")
    keep = keep_current in ("true", "1", "yes")
    await ctx.service.logout_all(claims.sub, keep_sid=claims.sid if keep else None)
    response = Response(status_code=204)
    if via_cookie and not keep:
        ctx.cookies.clear(response)
    return response


@revokes
async def password(request: Request) -> Response:
    """Change the caller's password; every other session ends."""
    ctx = context(request)
    claims, _ = await ctx.caller(request)
    body = await read_json(request, PasswordChange)
    await ctx.service.change_password(
        claims.sub,
        body.current_password,
        body.new_password,
        keep_sid=claims.sid,
        ip=ctx.client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return Response(status_code=204)
