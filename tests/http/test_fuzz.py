"""Schema fuzzing: schemathesis generates requests from /openapi.json (valid
and invalid) against the real app; no answer may be a 5xx. Bounded to a
few hundred cases in all."""

from __future__ import annotations

import asyncio

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from jwtwarden import FrozenClock, Policy, TokenService
from jwtwarden.keysource import EphemeralKeySource, KeyManager
from jwtwarden.server import create_app
from jwtwarden.settings import Settings
from jwtwarden.stores.memory import MemoryStore
from tests.conftest import CHEAP_TEST_PASSWORDS

PASSWORD = "correct horse battery"
BASE = "http://127.0.0.1:8000"


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


def test_no_generated_request_gets_a_server_error() -> None:
    # The schemathesis pytest plugin does not run on this pytest; its
    # hypothesis strategies are driven directly instead, per operation.
    app, service = build_app()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
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
                # A fresh admin session per case: fuzzed logouts end sessions.
                token = asyncio.run(service.login("root", PASSWORD)).access_token
                response = case.call(headers={"authorization": f"Bearer {token}"})
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                case.validate_response(response, checks=[not_a_server_error])

            try:
                fuzz()
            except Unsatisfiable:
                # No input to make invalid (GET /me has none): nothing to do.
                assert mode is GenerationMode.NEGATIVE
    assert sum(seen.values()) >= 200
    assert not any(status >= 500 for status in seen)
    assert {200, 400}.issubset(seen), seen
