"""``jwtwarden clients add … --require-dpop``: the flag is stored with the
client, in the store the server uses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from jwtwarden.stores import open_store
from tests.cli.test_cli import run  # noqa: F401 - the fixture


def test_require_dpop_is_stored_with_the_client(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    strict = json.loads(run("clients", "add", "spa", "--require-dpop").output)["client_id"]
    lax = json.loads(run("clients", "add", "api").output)["client_id"]

    async def flags() -> tuple[bool, bool]:
        store = open_store(f"sqlite:///{tmp_path / 'jwtwarden.db'}")
        try:
            a, b = await store.get_client(strict), await store.get_client(lax)
            assert a is not None and b is not None
            return a.require_dpop, b.require_dpop
        finally:
            await store.close()

    assert asyncio.run(flags()) == (True, False)
    assert "--require-dpop" in run("clients", "add", "--help").output
