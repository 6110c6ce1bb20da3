"""Admin endpoints: an access token whose roles include ``admin``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...core import inputs
from ...errors import InvalidRequestError, NotFoundError
from ..requests import read_json
from .context import context, revokes
from .models import Ban, NewUser, Roles, SessionOut, UserOut

__all__ = [
    "ban",
    "create_user",
    "end_session",
    "revoke_user",
    "set_roles",
    "unban",
    "user_sessions",
]


async def create_user(request: Request) -> Response:
    ctx = context(request)
    await ctx.admin(request)
    body = await read_json(request, NewUser)
    user = await ctx.service.create_user(body.username, body.password, body.roles)
    out = UserOut(sub=user.sub, username=user.username, roles=list(user.roles))
    return JSONResponse(out.model_dump(), status_code=201)


@revokes
async def revoke_user(request: Request) -> Response:
    ctx = context(request)
    await ctx.admin(request)
    await ctx.service.revoke_user(_sub(request))
    return Response(status_code=204)


@revokes
async def ban(request: Request) -> Response:
    ctx = context(request)
    await ctx.admin(request)
    body = await read_json(request, Ban)
    if body.until.tzinfo is None:
        raise InvalidRequestError("until needs a time zone (RFC 3339).")
    await ctx.service.ban(_sub(request), body.until.timestamp())
    return Response(status_code=204)


@revokes
async def unban(request: Request) -> Response:
    ctx = context(request)
    await ctx.admin(request)
    await ctx.service.unban(_sub(request))
    return Response(status_code=204)


@revokes
async def set_roles(request: Request) -> Response:
    ctx = context(request)
    await ctx.admin(request)
    body = await read_json(request, Roles)
    await ctx.service.set_roles(_sub(request), body.roles)
    return Response(status_code=204)


async def user_sessions(request: Request) -> Response:
    ctx = context(request)
    await ctx.admin(request)
    found = await ctx.service.list_sessions(_sub(request))
    return JSONResponse(
        [SessionOut.of(s, None).model_dump() for s in found], headers={"cache-control": "no-store"}
    )


@revokes
async def end_session(request: Request) -> Response:
    ctx = context(request)
    await ctx.admin(request)
    sid = request.path_params["sid"]
    if not await ctx.service.revoke_session(sid, reason="admin"):
        raise NotFoundError("No such live session.")
    return Response(status_code=204)


def _sub(request: Request) -> str:
    sub: str = request.path_params["sub"]
    if not inputs.is_sub(sub):
        raise NotFoundError("No such user.")
    return sub
