"""The ``jwtwarden`` command group.

Every setting is a flag on each command (``--store``, ``--access-ttl``, …)
and a ``JWTWARDEN_*`` environment variable; a flag wins. The master key is
the exception: it is read from the environment only, so that it never shows
in a process list or shell history.

Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import sys
import types
import typing
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from ..core import inputs
from ..core.users import User
from ..errors import JwtWardenError, NotFoundError
from ..service import TokenService
from ..settings import Settings
from ..stores import open_store
from ..stores.base import Migrates

__all__ = ["cli", "main"]

_T = TypeVar("_T")
#: Settings that are never flags (secrets belong in the environment).
_ENV_ONLY = frozenset({"master_key"})


class _Group(click.Group):
    """Turns jwtwarden and settings errors into one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JwtWardenError as exc:
            detail = f" ({exc.detail})" if exc.detail else ""
            raise click.ClickException(f"{exc.description}{detail}") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "settings"
            raise click.UsageError(f"invalid {where}: {first['msg']}") from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OSError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:  # a bug: still one line, never a traceback
            raise click.ClickException(f"unexpected {type(exc).__name__}: {exc}") from None


def settings_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add one flag per setting; pass a ``Settings`` built from the flags
    given (the environment supplies the rest) as ``settings``."""
    names = [n for n in Settings.model_fields if n not in _ENV_ONLY]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        flags = {n: kwargs.pop(n) for n in names}
        given = {n: v for n, v in flags.items() if v is not None}
        return fn(settings=Settings(**given), **kwargs)

    for name in reversed(names):
        field = Settings.model_fields[name]
        flag = "--" + name.replace("_", "-")
        help_text = f"{field.description} [env JWTWARDEN_{name.upper()}]"
        wrapper = _option_for(flag, name, field.annotation, help_text)(wrapper)
    return wrapper


def _option_for(flag: str, name: str, annotation: Any, help_text: str) -> Any:
    if annotation is bool:
        return click.option(flag, name, is_flag=True, default=None, help=help_text)
    if typing.get_origin(annotation) is typing.Literal:
        return click.option(
            flag, name, type=click.Choice(typing.get_args(annotation)), default=None, help=help_text
        )
    if annotation is int:
        return click.option(flag, name, type=int, default=None, help=help_text)
    if annotation is float:
        return click.option(flag, name, type=float, default=None, help=help_text)
    if isinstance(annotation, types.UnionType) or annotation is str:
        return click.option(flag, name, type=str, default=None, help=help_text)
    raise TypeError(f"no flag type for setting {name}: {annotation}")


def with_service(settings: Settings, action: Callable[[TokenService], Awaitable[_T]]) -> _T:
    """Open a service on the configured store, run ``action``, close it."""

    async def run() -> _T:
        service = await TokenService.open(settings)
        try:
            return await action(service)
        finally:
            await service.close()

    return asyncio.run(run())


async def _named(service: TokenService, name: str) -> User:
    """The user NAME means: the user whose sub it is exactly, if that user
    has no password (one the application authenticates, ``start_session``:
    its sub is the application's own id, matched case-sensitively), else
    the user with that username."""
    if inputs.is_sub(name):
        user = await service.store.get_user(name)
        if user is not None and not user.has_password:
            return user
    return await service.find_user(name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jwtwarden")
def cli() -> None:
    """jwtwarden: JWT access tokens, rotating refresh tokens with theft
    detection, and precise revocation."""


# users


@cli.group()
def users() -> None:
    """Create and list users."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, help="A role; repeat for several (e.g. admin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@settings_options
def users_add(settings: Settings, name: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create user NAME; prints its sub."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = with_service(settings, lambda s: s.create_user(name, password, roles))
    click.echo(user.sub)


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@settings_options
def users_list(settings: Settings, as_json: bool) -> None:
    """List every user."""
    found = with_service(settings, lambda s: s.list_users())
    rows = [
        {
            "sub": u.sub,
            "username": u.username,
            "roles": list(u.roles),
            "created_at": _iso(u.created_at),
            "banned_until": _iso(u.revocation.banned_until),
        }
        for u in found
    ]
    _emit(rows, as_json, ["sub", "username", "roles", "created_at", "banned_until"])


# keys


@cli.group()
def keys() -> None:
    """Signing keys."""


@keys.command("rotate")
@settings_options
def keys_rotate(settings: Settings) -> None:
    """Make a new signing key; older keys verify until their tokens expire."""
    key = with_service(settings, lambda s: s.rotate_keys())
    click.echo(f"{key.kid} {key.alg}")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@settings_options
def keys_list(settings: Settings, as_json: bool) -> None:
    """List signing keys (ids and dates only, never key material)."""

    async def action(s: TokenService) -> list[dict[str, Any]]:
        active = s.keys.signing_key().kid
        return [
            {
                "kid": k.kid,
                "alg": k.alg,
                "status": "active" if k.kid == active else "retired",
                "created_at": _iso(k.created_at),
                "retired_at": _iso(k.retired_at),
            }
            for k in s.keys.ring.keys
        ]

    _emit(
        with_service(settings, action),
        as_json,
        ["kid", "alg", "status", "created_at", "retired_at"],
    )


# sessions


@cli.group()
def sessions() -> None:
    """A user's sessions (logins)."""


@sessions.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@settings_options
def sessions_list(settings: Settings, name: str, as_json: bool) -> None:
    """List the live sessions of user NAME."""

    async def action(s: TokenService) -> list[dict[str, Any]]:
        user = await _named(s, name)
        return [
            {
                "sid": x.sid,
                "created_at": _iso(x.auth_time),
                "last_used_at": _iso(x.last_used_at),
                "expires_at": _iso(x.expires_at),
                "ip": x.ip,
                "user_agent": x.user_agent,
            }
            for x in await s.list_sessions(user.sub)
        ]

    columns = ["sid", "created_at", "last_used_at", "expires_at", "ip", "user_agent"]
    _emit(with_service(settings, action), as_json, columns)


@sessions.command("revoke")
@click.argument("sid")
@settings_options
def sessions_revoke(settings: Settings, sid: str) -> None:
    """End session SID: its refresh token and access tokens stop working."""
    if not with_service(settings, lambda s: s.revoke_session(sid, reason="admin")):
        raise NotFoundError("No live session with that id.")
    click.echo(f"revoked session {sid}")


# user-wide revocation


@cli.command("revoke-user")
@click.argument("name")
@settings_options
def revoke_user(settings: Settings, name: str) -> None:
    """Every token of user NAME issued until now dies."""

    async def action(s: TokenService) -> None:
        await s.revoke_user((await _named(s, name)).sub)

    with_service(settings, action)
    click.echo(f"revoked every token of {name}")


@cli.command("ban")
@click.argument("name")
@click.option(
    "--until",
    "until",
    required=True,
    help="RFC 3339 instant (2026-12-31T00:00:00Z) or a duration from now (90m, 12h, 7d).",
)
@settings_options
def ban(settings: Settings, name: str, until: str) -> None:
    """Ban user NAME: no login or refresh until TIME, every current token dead."""
    instant = parse_until(until)

    async def action(s: TokenService) -> None:
        await s.ban((await _named(s, name)).sub, instant)

    with_service(settings, action)
    click.echo(f"banned {name} until {_iso(instant)}")


@cli.command("unban")
@click.argument("name")
@settings_options
def unban(settings: Settings, name: str) -> None:
    """Lift the ban of user NAME (tokens from before it stay dead)."""

    async def action(s: TokenService) -> None:
        await s.unban((await _named(s, name)).sub)

    with_service(settings, action)
    click.echo(f"unbanned {name}")


@cli.command("purge")
@settings_options
def purge(settings: Settings) -> None:
    """Delete expired state now (it also happens by itself during traffic)."""
    count = with_service(settings, lambda s: s.purge())
    click.echo(f"purged {count} records")


_DURATION = re.compile(r"\+?(\d{1,9})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_until(text: str) -> float:
    """An RFC 3339 instant (with a zone) or a duration from now, as epoch seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        return datetime.now(UTC).timestamp() + int(match[1]) * _UNITS[match[2]]
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither RFC 3339 nor a duration like 12h") from None
    if instant.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-12-31T00:00:00Z")
    return instant.timestamp()


def _iso(instant: float | None) -> str | None:
    if instant is None:
        return None
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = [columns] + [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    for r in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(value) or "-"
    return str(value).replace("\n", " ")


# server


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the store.",
)
@settings_options
def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run the HTTP server (keys are generated on first start)."""
    try:
        import uvicorn

        from ..server.access_log import configure_logging
        from ..server.app import app_from_environment
    except ImportError:
        raise click.ClickException("the server needs: pip install 'jwtwarden[server]'") from None
    configure_logging()
    if settings.issuer is None:
        settings = settings.model_copy(update={"issuer": f"http://{_url_host(host)}:{port}"})
    if settings.insecure_cookies:
        logging.getLogger("jwtwarden.server").warning(
            "insecure cookies: Secure and the __Host- prefix are off; plain-HTTP localhost only"
        )
    # One process creates the schema and the keys before any worker starts.
    with_service(settings, lambda s: s.store.ping())
    click.echo(f"jwtwarden {settings.issuer}  store {settings.store}  workers {workers}")
    click.echo(
        "add a user: echo 'a long password' | jwtwarden users add NAME --role admin "
        "--password-stdin"
    )
    _export(settings)
    uvicorn.run(
        "jwtwarden.server.app:app_from_environment" if workers > 1 else app_from_environment(),
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        log_level="warning",
        lifespan="on",
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _export(settings: Settings) -> None:
    """Hand the settings to worker processes through the environment."""
    for name, value in settings.model_dump(exclude_none=True).items():
        if name == "master_key":
            continue
        os.environ[f"JWTWARDEN_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )


@cli.group()
def clients() -> None:
    """Client credentials: resource servers (introspection, the revocation
    feed) and backends that start sessions (the JWT-bearer grant)."""


@clients.command("add")
@click.argument("name")
@click.option(
    "--issue-sessions",
    is_flag=True,
    help="Also let it start sessions for its own users (the JWT-bearer grant, RFC 7523).",
)
@click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Its public keys (a JWK Set or one JWK, JSON); without: it signs with its secret (HS256).",
)
@click.option(
    "--role", "roles", multiple=True, help="A role its sessions may carry; repeat for several."
)
@click.option(
    "--require-dpop",
    is_flag=True,
    help="Its sessions must be DPoP-bound (RFC 9449): a token request for it needs a proof.",
)
@settings_options
def clients_add(
    settings: Settings,
    name: str,
    issue_sessions: bool,
    jwks_file: Path | None,
    roles: tuple[str, ...],
    require_dpop: bool,
) -> None:
    """Create credentials for client NAME; printed once, as JSON.

    Every client may introspect tokens and follow the revocation feed. With
    --issue-sessions it may also start sessions for its own users: it signs a
    JWT (iss: its client_id, sub: the user's id, aud: the issuer or its
    token endpoint, exp at most 300 s ahead, a single-use jti) with a key of
    --jwks-file, or with its client_secret (HS256), and sends it to POST
    /token as grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, asking
    for roles among --role in scope.

    With --require-dpop, a token request for this client (its JWT-bearer
    grant, or a password grant naming it as client_id) without a DPoP proof
    is refused (docs/dpop.md).
    """
    jwks = _read_jwks(jwks_file) if jwks_file is not None else None
    client, secret = with_service(
        settings,
        lambda s: s.create_client(
            name,
            issues_sessions=issue_sessions,
            session_roles=roles,
            jwks=jwks,
            require_dpop=require_dpop,
        ),
    )
    click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))


def _read_jwks(path: Path) -> object:
    if path.stat().st_size > 64 * 1024:
        raise click.BadParameter("a JWK Set file is at most 64 KiB", param_hint="--jwks-file")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--jwks-file") from exc


@cli.command("migrate")
@settings_options
def migrate(settings: Settings) -> None:
    """Bring the store's schema up to date (PostgreSQL; SQLite does it itself)."""

    async def action() -> int | None:
        store = open_store(settings.store, settings.to_policy())
        try:
            return await store.migrate() if isinstance(store, Migrates) else None
        finally:
            await store.close()

    version = asyncio.run(action())
    click.echo("schema is current" if version is None else f"schema version {version}")


def main() -> None:
    # Events go to the log for servers; an operator at a terminal sees only
    # what the command prints, plus real errors.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    cli(prog_name="jwtwarden")
