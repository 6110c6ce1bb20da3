"""Schema fuzzing: schemathesis generates requests from /openapi.json (valid
and invalid) against the real app, and its conformance checks judge every
answer: no 5xx; every status, content type and header the document lists;
a schema-valid request accepted (or refused only for a reason no schema
can state, listed in :data:`SEMANTIC_REFUSALS`); a schema-invalid one
refused. A mismatch between the document and the server fails the build.
Bounded to a few hundred cases in all (a few seconds)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from jwtwarden import FrozenClock, Policy, TokenService
from jwtwarden.keysource import EphemeralKeySource, KeyManager
from jwtwarden.server import create_app
from jwtwarden.settings import Settings
from jwtwarden.stores.memory import MemoryStore
from tests.conftest import CHEAP_TEST_PASSWORDS

PASSWORD = "correct horse battery"
BASE = "http://127.0.0.1:8000"

#: Every answer is judged by these.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

#: The username rule's Unicode part (``str.isprintable``: no format,
#: private-use or unassigned character) has no practical JSON Schema
#: pattern; the schema states the rest (length, controls, outer spaces).
UNPRINTABLE = "A username has no control characters or outer spaces."

#: A schema-valid request the server may still refuse, by operation: the
#: refusals no schema can state (a wrong password, an unknown refresh
#: token, a ban already over, a cookie that is not a session's), each by
#: its error code and, where the code alone is too broad, its description.
#: A DPoP proof's signature, key and freshness are not a schema's to state.
DPOP_PROOF = ("invalid_dpop_proof", None)
SEMANTIC_REFUSALS: dict[str, set[tuple[str, str | None]]] = {
    "POST /token": {DPOP_PROOF},
    "POST /session/login": {("invalid_grant", None), ("invalid_request", UNPRINTABLE), DPOP_PROOF},
    "POST /session/refresh": {("invalid_grant", None), DPOP_PROOF},
    "POST /password": {("invalid_grant", "The current password is wrong.")},
    "POST /admin/users": {("invalid_request", UNPRINTABLE)},
    "POST /admin/users/{sub}/ban": {("invalid_request", "A ban must end in the future.")},
}

#: schemathesis' own configuration: a body too large for the server (413) is
#: a refusal as good as a 400.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429]
"""


def build_app() -> tuple[object, TokenService]:
    service = TokenService(
        MemoryStore(),
        KeyManager(EphemeralKeySource(), "EdDSA", 300),
        Policy(issuer=BASE),
        passwords=CHEAP_TEST_PASSWORDS,
        clock=FrozenClock(),
    )

    async def setup() -> None:
        await service.start()
        await service.create_user("root", PASSWORD, roles=["admin"])

    asyncio.run(setup())
    return create_app(service, Settings(store="memory://", issuer=BASE)), service


def is_semantic_refusal(label: str, response: Any) -> bool:
    if response.status_code != 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    allowed = SEMANTIC_REFUSALS.get(label, set())
    return (body.get("error"), None) in allowed or (
        body.get("error"),
        body.get("error_description"),
    ) in allowed


def test_the_server_does_what_its_document_says() -> None:
    # The schemathesis pytest plugin does not run on this pytest; its
    # hypothesis strategies are driven directly instead, per operation.
    app, service = build_app()
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=SchemathesisConfig.from_str(CONFIG)
    )

    @schema.auth(refresh_interval=None)
    class Admin:
        """A fresh admin session per case (fuzzed logouts end sessions);
        given as the caller's auth, so negative cases do not mutate it."""

        def get(self, case: schemathesis.Case, ctx: object) -> str:
            return asyncio.run(service.login("root", PASSWORD)).access_token

        def set(self, case: schemathesis.Case, data: str, ctx: object) -> None:
            case.headers = {**(case.headers or {}), "authorization": f"Bearer {data}"}

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    seen: dict[int, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=8,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call()
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                case.validate_response(response, checks=CHECKS)
                if not is_semantic_refusal(operation.label, response):
                    case.validate_response(response, checks=[positive_data_acceptance])

            try:
                fuzz()
            except Unsatisfiable:
                # No input to make invalid (GET /me has none): nothing to do.
                assert mode is GenerationMode.NEGATIVE
    assert sum(seen.values()) >= 200
    assert not any(status >= 500 for status in seen)
    assert {200, 400}.issubset(seen), seen


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/admin/users/{sub}/ban", "DELETE, POST"), ("/token", "POST"), ("/me", "GET, HEAD")],
)
async def test_a_method_not_allowed_names_every_method_of_the_path(path: str, allow: str) -> None:
    service = TokenService(
        MemoryStore(),
        KeyManager(EphemeralKeySource(), "EdDSA", 300),
        Policy(issuer=BASE),
        passwords=CHEAP_TEST_PASSWORDS,
    )
    await service.start()
    app = create_app(service, Settings(store="memory://", issuer=BASE))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        r = await client.options(path.replace("{sub}", "x"))
    assert r.status_code == 405
    assert sorted(m.strip() for m in r.headers["allow"].split(",")) == allow.split(", ")
    assert r.json()["error"] == "method_not_allowed"
