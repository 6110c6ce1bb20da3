"""The whole HTTP contract: every route, its endpoint and its documentation
(the OpenAPI document is generated from this table)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .cookies import REFRESH_PATH
from .endpoints import account, admin, browser, feed, health, oauth
from .endpoints.models import Ban, Login, NewUser, PasswordChange, Roles
from .openapi import Operation

__all__ = ["OPERATIONS", "Endpoint", "path_routes"]

Endpoint = Callable[[Request], Awaitable[Response]]

#: The whole HTTP contract: (path, method) -> endpoint and its documentation.
OPERATIONS: dict[tuple[str, str], tuple[Endpoint, Operation]] = {
    ("/token", "post"): (
        oauth.token,
        Operation(
            "RFC 6749 token endpoint: password, refresh_token and (RFC 7523) "
            "urn:ietf:params:oauth:grant-type:jwt-bearer grants",
            "OAuth",
            grants={
                "password": {
                    "username": True,
                    "password": True,
                    "client_id": False,
                    "scope": False,
                },
                "refresh_token": {"refresh_token": True, "scope": False},
                "urn:ietf:params:oauth:grant-type:jwt-bearer": {
                    "assertion": True,
                    "scope": False,
                },
            },
            headers={"DPoP": False},  # RFC 9449 proof: binds the tokens (docs/dpop.md)
            errors=(400, 401, 413, 415, 429, 503),
        ),
    ),
    ("/revoke", "post"): (
        oauth.revocation,
        Operation(
            "RFC 7009 revocation: a refresh token ends its session, an access token is denied",
            "OAuth",
            form={"token": True, "token_type_hint": False},
            errors=(400, 413, 415, 503),
        ),
    ),
    ("/introspect", "post"): (
        oauth.introspection,
        Operation(
            "RFC 7662 introspection (resource-server client credentials)",
            "OAuth",
            form={"token": True, "token_type_hint": False},
            auth="basic",
            errors=(400, 401, 413, 415, 503),
        ),
    ),
    ("/.well-known/oauth-authorization-server", "get"): (
        oauth.metadata,
        Operation("RFC 8414 server metadata", "OAuth", errors=()),
    ),
    ("/.well-known/jwks.json", "get"): (
        oauth.jwks,
        Operation("Public keys (JWK Set)", "OAuth", errors=()),
    ),
    ("/me", "get"): (
        account.me,
        Operation("The caller's claims", "Account", auth="bearer", errors=(401, 503)),
    ),
    ("/sessions", "get"): (
        account.sessions,
        Operation("The caller's live sessions", "Account", auth="bearer", errors=(401, 503)),
    ),
    ("/sessions/{sid}", "delete"): (
        account.end_session,
        Operation(
            "End one of the caller's sessions",
            "Account",
            auth="bearer",
            ok=(204, "Ended"),
            errors=(401, 403, 404, 503),
            params=(("sid", "path"),),
        ),
    ),
    ("/logout", "post"): (
        account.logout,
        Operation(
            "End the current session",
            "Account",
            auth="bearer",
            ok=(204, "Ended"),
            errors=(401, 403, 503),
        ),
    ),
    ("/logout/all", "post"): (
        account.logout_all,
        Operation(
            "End every session of the caller (keep_current=true keeps this one)",
            "Account",
            auth="bearer",
            ok=(204, "Ended"),
            errors=(400, 401, 403, 503),
            params=(("keep_current", "query"),),
        ),
    ),
    ("/password", "post"): (
        account.password,
        Operation(
            "Change password; every other session ends",
            "Account",
            body=PasswordChange,
            auth="bearer",
            ok=(204, "Changed"),
            errors=(400, 401, 403, 413, 415, 429, 503),
        ),
    ),
    ("/admin/users", "post"): (
        admin.create_user,
        Operation(
            "Create a user",
            "Admin",
            body=NewUser,
            auth="bearer",
            ok=(201, "Created"),
            errors=(400, 401, 403, 409, 413, 415, 503),
        ),
    ),
    ("/admin/users/{sub}/revoke", "post"): (
        admin.revoke_user,
        Operation(
            "Cutoff now: every token of the user dies",
            "Admin",
            auth="bearer",
            ok=(204, "Revoked"),
            errors=(401, 403, 404, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/users/{sub}/ban", "post"): (
        admin.ban,
        Operation(
            "Ban until an instant",
            "Admin",
            body=Ban,
            auth="bearer",
            ok=(204, "Banned"),
            errors=(400, 401, 403, 404, 413, 415, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/users/{sub}/ban", "delete"): (
        admin.unban,
        Operation(
            "Lift a ban",
            "Admin",
            auth="bearer",
            ok=(204, "Lifted"),
            errors=(401, 403, 404, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/users/{sub}/roles", "put"): (
        admin.set_roles,
        Operation(
            "New roles; tokens with the old ones die",
            "Admin",
            body=Roles,
            auth="bearer",
            ok=(204, "Changed"),
            errors=(400, 401, 403, 404, 413, 415, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/users/{sub}/sessions", "get"): (
        admin.user_sessions,
        Operation(
            "A user's live sessions",
            "Admin",
            auth="bearer",
            errors=(401, 403, 404, 503),
            params=(("sub", "path"),),
        ),
    ),
    ("/admin/sessions/{sid}", "delete"): (
        admin.end_session,
        Operation(
            "End any session",
            "Admin",
            auth="bearer",
            ok=(204, "Ended"),
            errors=(401, 403, 404, 503),
            params=(("sid", "path"),),
        ),
    ),
    ("/session/login", "post"): (
        browser.session_login,
        Operation(
            "Browser login: tokens in HttpOnly cookies",
            "Browser",
            body=Login,
            headers={"DPoP": False},
            errors=(400, 403, 413, 415, 429, 503),
        ),
    ),
    (REFRESH_PATH, "post"): (
        browser.session_refresh,
        Operation(
            "Browser refresh (refresh cookie + X-CSRF-Token)",
            "Browser",
            cookies={"__Secure-jwtwarden-rt": True},
            headers={"X-CSRF-Token": True, "DPoP": False},
            errors=(400, 403, 503),
        ),
    ),
    ("/session", "get"): (
        browser.session_state,
        Operation(
            "Browser session state: access-token lifetime left and the CSRF token",
            "Browser",
            auth="cookie",
            errors=(400, 401, 403, 503),
        ),
    ),
    ("/session/logout", "post"): (
        browser.session_logout,
        Operation(
            "Browser logout (access cookie + X-CSRF-Token); 204 without a cookie too",
            "Browser",
            cookies={"__Host-jwtwarden-at": False},
            headers={"X-CSRF-Token": False},
            ok=(204, "Ended"),
            errors=(400, 403, 503),
        ),
    ),
    ("/revocations", "get"): (
        feed.revocations,
        Operation(
            "The revocation feed for resource servers (Server-Sent Events)",
            "OAuth",
            auth="basic",
            errors=(401, 503),
        ),
    ),
    ("/healthz", "get"): (health.healthz, Operation("Liveness", "Operations", errors=())),
    ("/readyz", "get"): (
        health.readyz,
        Operation("Store reachability", "Operations", errors=(503,)),
    ),
}


def path_routes(order: list[tuple[str, str]]) -> list[Route]:
    """One route per path, in the order of each path's first (path, method)
    in ``order``, answering every method the table gives it: a 405 then
    names them all in ``Allow`` (``OPTIONS /admin/users/{sub}/ban``:
    ``DELETE, POST``), which a route per method cannot."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for path, method in order:
        by_path.setdefault(path, {})[method.upper()] = OPERATIONS[(path, method)][0]
    return [
        Route(path, _by_method(endpoints), methods=list(endpoints))
        for path, endpoints in by_path.items()
    ]


def _by_method(endpoints: dict[str, Endpoint]) -> Endpoint:
    if len(endpoints) == 1:
        return next(iter(endpoints.values()))
    if "GET" in endpoints:
        endpoints = {**endpoints, "HEAD": endpoints["GET"]}

    async def endpoint(request: Request) -> Response:
        return await endpoints[request.method](request)

    return endpoint
