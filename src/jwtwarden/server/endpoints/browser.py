"""Browser mode (``/session/*``): tokens only in HttpOnly cookies, never in
a body; every route CSRF-protected (see ``server/cookies.py``).

A refresh that fails for good (``invalid_grant``) clears the cookies, and one
refused because the session was ended for reuse says so in the body
(``"session_ended": "reuse"``), so the page can tell its user "possible
theft" rather than only "signed out".

A ``DPoP`` proof on login (RFC 9449) binds the session, so the refresh
cookie is useless without the page's key: every refresh needs a proof by
it. The access cookie stays a bearer token (``HttpOnly``, unreadable by
script), as public clients often bind the refresh token only (docs/dpop.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import InvalidGrantError, InvalidTokenError, RefreshTokenReusedError
from ..cookies import MAX_COOKIE
from ..errors import error_response
from ..requests import read_json
from .context import Context, context, revokes
from .dpop import request_proof, sends_dpop_nonce
from .models import Login

__all__ = ["session_login", "session_logout", "session_refresh", "session_state"]

_NO_STORE = {"cache-control": "no-store"}


@sends_dpop_nonce
async def session_login(request: Request) -> Response:
    """JSON credentials in; cookies out. The body only says who logged in and
    the CSRF token to echo. No cookie is needed yet, so CSRF here is the
    Origin check and the JSON content type (a form cannot send it)."""
    ctx = context(request)
    ctx.cookies.check_origin(request)
    body = await read_json(request, Login)
    dpop = await request_proof(request)
    pair = await ctx.service.login(
        body.username,
        body.password,
        ip=ctx.client_ip(request),
        user_agent=request.headers.get("user-agent"),
        dpop=dpop,
        bind_access=False,
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


@sends_dpop_nonce
async def session_refresh(request: Request) -> Response:
    ctx = context(request)
    token = ctx.cookies.require_cookie(request, ctx.cookies.refresh)
    ctx.cookies.check_csrf(request, token.split(".", 1)[0])
    dpop = await request_proof(request)
    try:
        pair = await ctx.service.refresh(
            token,
            ip=ctx.client_ip(request),
            user_agent=request.headers.get("user-agent"),
            dpop=dpop,
            bind_access=False,
        )
    except InvalidGrantError as exc:
        if isinstance(exc, RefreshTokenReusedError):
            await ctx.sync()  # the stolen session's access tokens die here at once
        return _session_over(ctx, exc)
    response = JSONResponse(
        {"sub": pair.sub, "sid": pair.sid, "expires_in": pair.expires_in},
        headers={"cache-control": "no-store"},
    )
    ctx.cookies.set_tokens(response, pair)
    return response


@revokes
async def session_logout(request: Request) -> Response:
    """Sign out, in every state a browser can be in, and clear the cookies.

    A user must always be able to sign out: with a live access cookie, an
    expired one (its signature still names the session), one whose session
    was already revoked, a garbled one, or none at all (only the refresh or
    the CSRF cookie left). Whenever the cookie names a session, the session
    ends, and the request must carry that session's CSRF token (so a forged
    cross-site logout is refused); otherwise there is nothing to end on the
    server and the answer is the same 204 that clears every cookie."""
    ctx = context(request)
    ctx.cookies.check_origin(request)
    claims = None
    token = ctx.cookies.read(request, ctx.cookies.access)
    if token and len(token) <= MAX_COOKIE:
        try:
            claims = await ctx.service.decode(token, allow_expired=True)
        except InvalidTokenError:
            claims = None
    if claims is not None:
        ctx.cookies.check_csrf(request, claims.sid)
        await ctx.service.logout(claims)
    response = Response(status_code=204, headers={"cache-control": "no-store"})
    ctx.cookies.clear(response)
    return response


def _session_over(ctx: Context, error: InvalidGrantError) -> Response:
    """The refresh token will never work again: clear the cookies, and say
    whether reuse ended the session."""
    response = error_response(error)
    if isinstance(error, RefreshTokenReusedError):
        response = JSONResponse(
            {
                "error": error.code,
                "error_description": (
                    "The session was ended because its refresh token was used twice "
                    "(possible theft)."
                ),
                "session_ended": "reuse",
            },
            status_code=response.status_code,
            headers=_NO_STORE,
        )
    ctx.cookies.clear(response)
    return response


async def session_state(request: Request) -> Response:
    """``GET /session``: what a page's script cannot read itself: the
    session its access cookie names, how long that token has left
    (``expires_in``, 0 once expired) and the session's CSRF token, which a
    front end on another allowed origin cannot read from this origin's
    cookie. The signature is checked, not expiry or revocation: an expired
    token still lets the script refresh, and the refresh says whether the
    session lives. 401 without a genuine access cookie."""
    ctx = context(request)
    ctx.cookies.check_origin(request)
    token = ctx.cookies.read(request, ctx.cookies.access)
    if not token or len(token) > MAX_COOKIE:
        raise InvalidTokenError("An access token is required.")
    claims = await ctx.service.decode(token, allow_expired=True)
    left = max(0, int(claims.exp - ctx.service.clock.now()))
    return JSONResponse(
        {
            "sub": claims.sub,
            "sid": claims.sid,
            "expires_in": left,
            "csrf_token": ctx.cookies.csrf_token(claims.sid),
        },
        headers=_NO_STORE,
    )
