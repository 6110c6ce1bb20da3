"""A store dump alone cannot mint or replay a token (DESIGN property 4)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from jwtwarden import ConfigurationError, FrozenClock, Settings, TokenService
from jwtwarden.keysource import FileKeySource, KeyManager, StoreKeySource
from jwtwarden.stores import open_store
from tests.conftest import CHEAP_TEST_ARGON2

PASSWORD = "correct horse battery"
MASTER = "m" * 16 + "a-master-key-for-tests-only"


def secret_spellings(svc: TokenService) -> list[bytes]:
    """Every form in which the secret material could leak into a file."""
    ring = svc.keys.ring
    found = [ring.mac_secret, base64.urlsafe_b64encode(ring.mac_secret).rstrip(b"=")]
    for key in ring.keys:
        record = key.to_record()
        found.append(record["key"].encode())
        body = record["key"].split("-----")[2].replace("\n", "") if "BEGIN" in record["key"] else ""
        if body:
            found.append(body.encode()[:40])
    return found


async def open_service(tmp_path: Path, clock: FrozenClock, **settings: object) -> TokenService:
    s = Settings(
        store=f"sqlite:///{tmp_path / 'dump.db'}",
        key_file=str(tmp_path / "keys"),
        **{f"argon2_{k}": v for k, v in CHEAP_TEST_ARGON2.items()},
        **settings,
    )  # type: ignore[arg-type]
    return await TokenService.open(s, clock=clock)


@pytest.mark.parametrize("master", [None, MASTER], ids=["key-file", "master-key"])
async def test_sqlite_dump_holds_no_usable_token_or_secret(
    tmp_path: Path, clock: FrozenClock, master: str | None
) -> None:
    svc = await open_service(tmp_path, clock, master_key=master)
    await svc.create_user("alice", PASSWORD)
    pairs = [await svc.login("alice", PASSWORD) for _ in range(3)]
    clock.advance(1)
    pairs.append(await svc.refresh(pairs[0].refresh_token))
    await svc.revoke_access_token(pairs[1].access_token)
    await svc.rotate_keys()
    pairs.append(await svc.login("alice", PASSWORD))
    secrets_ = secret_spellings(svc)
    await svc.close()

    dump = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("dump.db"))
    for pair in pairs:
        for token in (pair.access_token, pair.refresh_token):
            assert token.encode() not in dump
            assert token.split(".")[-1].encode() not in dump  # no MAC or signature either
    for secret in secrets_:
        assert secret not in dump
    assert b"PRIVATE KEY" not in dump
    assert PASSWORD.encode() not in dump
    if master:
        assert not (tmp_path / "keys").exists()


async def test_key_file_is_created_private_and_refused_when_readable(
    tmp_path: Path, clock: FrozenClock
) -> None:
    svc = await open_service(tmp_path, clock)
    await svc.close()
    path = tmp_path / "keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        await open_service(tmp_path, clock)


async def test_processes_on_one_store_share_keys_sealed_under_the_master_key(
    tmp_path: Path, clock: FrozenClock
) -> None:
    first = await open_service(tmp_path, clock, master_key=MASTER)
    second = await open_service(tmp_path, clock, master_key=MASTER)
    assert first.keys.signing_key().kid == second.keys.signing_key().kid
    await first.create_user("alice", PASSWORD)
    pair = await first.login("alice", PASSWORD)
    await second.verify(pair.access_token)
    assert (await second.refresh(pair.refresh_token)).sid == pair.sid
    await first.close()
    await second.close()
    with pytest.raises(ConfigurationError, match="MASTER_KEY"):
        await open_service(tmp_path, clock, master_key="x" * 40)


async def test_a_short_master_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="at least"):
        StoreKeySource(open_store("memory://"), "too-short")


async def test_concurrent_first_starts_agree_on_one_key_file(tmp_path: Path) -> None:
    import asyncio

    managers = [KeyManager(FileKeySource(tmp_path / "k"), "EdDSA", 300) for _ in range(8)]
    rings = await asyncio.gather(*(asyncio.to_thread(asyncio.run, m.ensure(0.0)) for m in managers))
    assert len({r.keys[-1].kid for r in rings}) == 1
    assert len({r.mac_secret for r in rings}) == 1
    assert json.loads((tmp_path / "k").read_text())["version"] == 1
