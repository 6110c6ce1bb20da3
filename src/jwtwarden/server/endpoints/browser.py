"""Browser mode (``/session/*``): tokens only in HttpOnly cookies, never in
a body; every route CSRF-protected (see ``server/cookies.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import InvalidTokenError, RefreshTokenReusedError
from ..requests import read_json
from .context import context, revokes
from .models import Login

__all__ = ["session_login", "session_logout", "session_refresh"]


async def session_login(request: Request) -> Response:
    """JSON credentials in; cookies out. The body only says who logged in and
    the CSRF token to echo. No cookie is needed yet, so CSRF here is the
    Origin check and the JSON content type (a form cannot send it)."""
    ctx = context(request)
    ctx.cookies.check_origin(request)
    body = await read_json(request, Login)
    pair = await ctx.service.login(
        body.username,
        body.password,
        ip=ctx.client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    response = JSONResponse(
        {
            "sub": pair.sub,
            "sid": pair.sid,
            "expires_in": pair.expires_in,
            "csrf_token": ctx.cookies.csrf_token(pair.sid),
        },
        headers={"cache-control": "no-store"},
    )
    ctx.cookies.set_tokens(response, pair)
    return response


async def session_refresh(request: Request) -> Response:
    ctx = context(request)
    token = ctx.cookies.require_cookie(request, ctx.cookies.refresh)
    ctx.cookies.check_csrf(request, token.split(".", 1)[0])
    try:
        pair = await ctx.service.refresh(
            token, ip=ctx.client_ip(request), user_agent=request.headers.get("user-agent")
        )
    except RefreshTokenReusedError:
        await ctx.sync()  # the stolen session's access tokens die here at once
        raise
    response = JSONResponse(
        {"sub": pair.sub, "sid": pair.sid, "expires_in": pair.expires_in},
        headers={"cache-control": "no-store"},
    )
    ctx.cookies.set_tokens(response, pair)
    return response


@revokes
async def session_logout(request: Request) -> Response:
    """End the cookie's session, even if its access token has expired."""
    ctx = context(request)
    token = ctx.cookies.require_cookie(request, ctx.cookies.access)
    try:
        claims = await ctx.service.decode(token, allow_expired=True)
    except InvalidTokenError:
        response = Response(status_code=204)
        ctx.cookies.clear(response)
        return response
    ctx.cookies.check_csrf(request, claims.sid)
    await ctx.service.logout(claims)
    response = Response(status_code=204)
    ctx.cookies.clear(response)
    return response
