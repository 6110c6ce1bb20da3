"""The OpenAPI 3.1 document of the whole API, built from the same operation
table that builds the routes, so the two cannot drift apart."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from .endpoints.models import Error
from .requests import BOOLEAN_QUERY

__all__ = [
    "DOCS_ASSETS",
    "DOCS_HTML",
    "DOCS_INIT_JS",
    "Operation",
    "docs_asset",
    "openapi_document",
]


@dataclass(frozen=True)
class Operation:
    """What the document says about one (path, method)."""

    summary: str
    tag: str
    #: Form fields (name -> required) for RFC endpoints.
    form: dict[str, bool] | None = None
    #: A form whose fields depend on ``grant_type``: grant -> its fields
    #: (name -> required), one ``oneOf`` branch each (the token endpoint).
    grants: dict[str, dict[str, bool]] | None = None
    #: JSON request body.
    body: type[BaseModel] | None = None
    #: ``bearer`` (header or cookie), ``basic``, ``cookie`` or ``None``.
    auth: str | None = None
    #: Success status and description.
    ok: tuple[int, str] = (200, "OK")
    #: Error statuses this operation may answer.
    errors: tuple[int, ...] = (400,)
    params: tuple[tuple[str, str], ...] = field(default=())
    #: Cookies (name -> required) and headers (name -> required) read.
    cookies: dict[str, bool] = field(default_factory=dict)
    headers: dict[str, bool] = field(default_factory=dict)


#: Every form value: bounded as ``server/requests.py`` reads it (a NUL is refused).
_FORM_VALUE = {"type": "string", "maxLength": 8192, "pattern": "^[^\\u0000]*$"}
#: Path and query values: ids are at most 64 characters.
_PARAM_VALUE = {"type": "string", "maxLength": 64}


def _form_schema(fields: dict[str, bool], **fixed: Any) -> dict[str, Any]:
    """A form object: a required field may not be empty (the server refuses
    an empty one as missing)."""
    properties: dict[str, Any] = {
        name: {**_FORM_VALUE, "minLength": 1} if required else dict(_FORM_VALUE)
        for name, required in fields.items()
    }
    for name, value in fixed.items():
        properties[name] = {"type": "string", "const": value}
    required = [*fixed, *(name for name, req in fields.items() if req)]
    # Unknown parameters are ignored (RFC 6749 §3.2), but each is one string.
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": _FORM_VALUE,
    }


def _parameter(name: str, where: str, required: bool) -> dict[str, Any]:
    schema: dict[str, Any] = dict(_PARAM_VALUE)
    if where == "query":
        schema = {"type": "string", "enum": list(BOOLEAN_QUERY)}
    elif where in ("cookie", "header"):
        # An optional one may be anything (a garbled cookie still signs out).
        schema = (
            {"type": "string", "minLength": 1, "maxLength": 8192}
            if required
            else {"type": "string"}
        )
    return {"name": name, "in": where, "required": required, "schema": schema}


_STATUS_TEXT = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Wrong content type",
    429: "Too many failed logins (see Retry-After)",
    503: "Store unavailable (see Retry-After)",
}


def openapi_document(operations: dict[tuple[str, str], Operation], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": Error.model_json_schema()}
    for (path, method), op in operations.items():
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{method}_{path}".replace("/", "_")
            .replace("{", "")
            .replace("}", "")
            .replace(".", "_")
            .replace("-", "_"),
        }
        params = [_parameter(name, where, where == "path") for name, where in op.params]
        params += [_parameter(name, "cookie", req) for name, req in op.cookies.items()]
        params += [_parameter(name, "header", req) for name, req in op.headers.items()]
        if params:
            entry["parameters"] = params
        form: dict[str, Any] | None = None
        if op.form is not None:
            form = _form_schema(op.form)
        if op.grants is not None:
            form = {
                "oneOf": [
                    _form_schema(fields, grant_type=grant) for grant, fields in op.grants.items()
                ]
            }
        if form is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": form}},
            }
        if op.body is not None:
            schemas[op.body.__name__] = op.body.model_json_schema()
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}
                    }
                },
            }
        if op.auth == "bearer":
            entry["security"] = [{"bearer": []}, {"cookie": []}]
        elif op.auth == "basic":
            entry["security"] = [{"basic": []}]
        elif op.auth == "cookie":
            entry["security"] = [{"cookie": []}]
        responses: dict[str, Any] = {str(op.ok[0]): {"description": op.ok[1]}}
        for status in op.errors:
            responses[str(status)] = {
                "description": _STATUS_TEXT[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        entry["responses"] = responses
        paths.setdefault(path, {})[method] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jwtwarden",
            "version": version,
            "description": "Login, rotating refresh tokens with reuse detection, "
            "precise revocation.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                # The token endpoint itself, as OAuth 2.0 describes it (RFC 6749
                # §4.3): its 400s (invalid_grant) are credentials refused.
                "oauth2": {
                    "type": "oauth2",
                    "flows": {"password": {"tokenUrl": "/token", "scopes": {}}},
                },
                "basic": {"type": "http", "scheme": "basic"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "__Host-jwtwarden-at"},
            },
        },
    }


#: The Swagger UI page: its script and stylesheet come from this server
#: (``/docs/…``, vendored by the ``swagger-ui-bundle-v2`` package, pinned in
#: the ``docs`` extra), and it has no inline script, so the strict
#: Content-Security-Policy of ``server/headers.py`` holds.
DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>jwtwarden API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>"""

#: What ``/docs/init.js`` runs: Swagger UI on this server's document.
DOCS_INIT_JS = 'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});\n'

#: The vendored files ``/docs/…`` may serve, with their media types.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}


async def docs(request: Request) -> Response:
    """``/docs``: Swagger UI, or 404 naming the extra when it is missing."""
    if docs_asset("swagger-ui-bundle.js") is None:
        missing = "Swagger UI is not installed: pip install 'jwtwarden[docs]'; see /openapi.json."
        return JSONResponse({"error": "not_found", "error_description": missing}, 404)
    return HTMLResponse(DOCS_HTML)


async def docs_file(request: Request) -> Response:
    """``/docs/{name}``: the page's own script and the vendored files."""
    name = request.path_params["name"]
    if name == "init.js":
        return Response(DOCS_INIT_JS, media_type="text/javascript; charset=utf-8")
    body = docs_asset(name)
    if body is None:
        return JSONResponse({"error": "not_found", "error_description": "Not found."}, 404)
    cache = {"cache-control": "public, max-age=86400"}
    return Response(body, media_type=DOCS_ASSETS[name], headers=cache)


@functools.cache
def docs_asset(name: str) -> bytes | None:
    """A vendored Swagger UI file, or ``None`` when the ``docs`` extra
    (``swagger-ui-bundle-v2``) is not installed or ``name`` is not one."""
    if name not in DOCS_ASSETS:
        return None
    try:
        bundle = importlib.import_module("swagger_ui_bundle")
    except ImportError:
        return None
    root: Traversable = bundle.swagger_ui_path
    return root.joinpath(name).read_bytes()
