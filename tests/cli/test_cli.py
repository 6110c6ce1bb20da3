"""The jwtwarden command, run in-process on a SQLite store."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from jwtwarden.cli.main import cli
from tests.conftest import CHEAP_TEST_ARGON2


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for name, value in CHEAP_TEST_ARGON2.items():
        monkeypatch.setenv(f"JWTWARDEN_ARGON2_{name.upper()}", str(value))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_users_add_and_list_on_the_default_sqlite_store(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sub = run(
        "users", "add", "alice", "--role", "admin", "--password-stdin", input="correct horse\n"
    ).output.strip()
    assert len(sub) == 36
    rows = [json.loads(line) for line in run("users", "list", "--json").output.splitlines()]
    assert rows == [
        {
            "sub": sub,
            "username": "alice",
            "roles": ["admin"],
            "created_at": rows[0]["created_at"],
            "banned_until": None,
        }
    ]
    assert (tmp_path / "jwtwarden.db").exists()
    for name in ("jwtwarden.db", "jwtwarden.keys"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert "alice" in run("users", "list").output


def test_store_flag_and_environment_select_the_store(
    run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(
        "users",
        "add",
        "bob",
        "--password-stdin",
        "--store",
        "sqlite:///other.db",
        input="correct horse\n",
    )
    assert (tmp_path / "other.db").exists()
    assert "bob" not in run("users", "list").output
    monkeypatch.setenv("JWTWARDEN_STORE", "sqlite:///other.db")
    assert "bob" in run("users", "list").output


def test_keys_rotate_and_list(run) -> None:  # type: ignore[no-untyped-def]
    first = json.loads(run("keys", "list", "--json").output)
    assert first["status"] == "active" and first["alg"] == "EdDSA"
    kid = run("keys", "rotate").output.split()[0]
    rows = [json.loads(line) for line in run("keys", "list", "--json").output.splitlines()]
    assert [(r["kid"], r["status"]) for r in rows] == [(first["kid"], "retired"), (kid, "active")]
    assert "PRIVATE" not in run("keys", "list").output


def test_sessions_revoke_user_ban_unban_purge(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from jwtwarden import Settings, TokenService

    run("users", "add", "alice", "--password-stdin", input="correct horse\n")
    settings = Settings(**{f"argon2_{k}": v for k, v in CHEAP_TEST_ARGON2.items()})  # type: ignore[arg-type]

    async def login() -> str:
        service = await TokenService.open(settings)
        pair = await service.login("alice", "correct horse", ip="192.0.2.1", user_agent="curl")
        await service.close()
        return pair.sid

    sid = asyncio.run(login())
    rows = [json.loads(x) for x in run("sessions", "list", "alice", "--json").output.splitlines()]
    assert [(r["sid"], r["ip"], r["user_agent"]) for r in rows] == [(sid, "192.0.2.1", "curl")]
    assert "revoked session" in run("sessions", "revoke", sid).output
    assert run("sessions", "list", "alice", "--json").output == ""
    assert run("sessions", "revoke", sid, ok=False).exit_code == 1

    assert "revoked every token" in run("revoke-user", "alice").output
    assert (
        "banned alice until 2030-01-01T00:00:00Z"
        in run("ban", "alice", "--until", "2030-01-01T00:00:00Z").output
    )
    listed = json.loads(run("users", "list", "--json").output)
    assert listed["banned_until"] == "2030-01-01T00:00:00Z"
    run("ban", "alice", "--until", "2h")
    assert "unbanned" in run("unban", "alice").output
    assert json.loads(run("users", "list", "--json").output)["banned_until"] is None
    assert run("purge").output.startswith("purged ")


@pytest.mark.parametrize(
    "args,input,message",
    [
        (["users", "add", "x", "--password-stdin"], "short\n", "8 to 1024"),
        (["users", "add", "bad\tname", "--password-stdin"], "correct horse\n", "username"),
        (["ban", "nobody", "--until", "1h"], None, "No such user"),
        (["ban", "nobody", "--until", "tomorrow"], None, "neither RFC 3339"),
        (["ban", "nobody", "--until", "2030-01-01T00:00:00"], None, "time zone"),
        (["unban", "nobody"], None, "No such user"),
        (["revoke-user", "nobody"], None, "No such user"),
        (["sessions", "list", "nobody"], None, "No such user"),
        (["users", "list", "--access-ttl", "0"], None, "access_ttl"),
        (["users", "list", "--store", "bogus://x"], None, "unknown store URL"),
        (["users", "list", "--algorithm", "none"], None, "none"),
    ],
)
def test_errors_are_one_line_and_a_nonzero_exit(run, args, input, message) -> None:  # type: ignore[no-untyped-def]
    result = run(*args, input=input, ok=False)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1


def test_duplicate_user_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    run("users", "add", "alice", "--password-stdin", input="correct horse\n")
    result = run("users", "add", "ALICE", "--password-stdin", input="correct horse\n", ok=False)
    assert result.exit_code == 1 and "taken" in result.output


def test_a_world_readable_key_file_is_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("users", "list")
    (tmp_path / "jwtwarden.keys").chmod(0o644)
    result = run("users", "list", ok=False)
    assert result.exit_code == 1 and "chmod 600" in result.output


def test_a_new_sid_never_begins_with_a_dash() -> None:
    # A sid pasted from `sessions list` into `sessions revoke SID` must not be
    # read as an option (click takes "-h…" for --help).
    from jwtwarden.tokens.refresh import new_sid

    sids = [new_sid() for _ in range(5000)]  # about 78 would begin with "-" by chance
    assert not any(sid.startswith("-") for sid in sids)
    assert len(set(sids)) == 5000 and all(len(sid) == 22 for sid in sids)


def test_an_old_sid_that_begins_with_a_dash_is_revoked_after_a_double_dash(run) -> None:  # type: ignore[no-untyped-def]
    result = run("sessions", "revoke", "--", "-hg0FVg7nxoAgiNCCFknHw", ok=False)
    assert result.exit_code == 1 and "No live session" in result.output


def test_clients_add_issue_sessions_with_keys_or_a_secret(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from jwt.algorithms import OKPAlgorithm

    key = ed25519.Ed25519PrivateKey.generate()
    public = tmp_path / "public.json"
    public.write_text(json.dumps(OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)))
    made = json.loads(
        run("clients", "add", "billing", "--issue-sessions", "--jwks-file", str(public),
            "--role", "user").output
    )  # fmt: skip
    assert made["client_id"].startswith("rs_") and made["client_secret"]
    assert json.loads(run("clients", "add", "portal", "--issue-sessions").output)["client_secret"]

    private = tmp_path / "private.json"
    private.write_text(json.dumps(OKPAlgorithm.to_jwk(key, as_dict=True)))
    result = run(
        "clients", "add", "leaky", "--issue-sessions", "--jwks-file", str(private), ok=False
    )
    assert result.exit_code != 0 and "public keys only" in result.output
    not_json = tmp_path / "not.json"
    not_json.write_text("{")
    result = run("clients", "add", "x", "--issue-sessions", "--jwks-file", str(not_json), ok=False)
    assert result.exit_code != 0 and "not JSON" in result.output
    result = run("clients", "add", "rs", "--role", "admin", ok=False)
    assert result.exit_code != 0 and "issue sessions" in result.output
    assert "--issue-sessions" in run("clients", "add", "--help").output


def test_a_user_the_application_authenticates_is_named_by_its_sub(run) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from jwtwarden import Settings, TokenService

    settings = Settings(**{f"argon2_{k}": v for k, v in CHEAP_TEST_ARGON2.items()})  # type: ignore[arg-type]

    async def start() -> None:
        service = await TokenService.open(settings)
        await service.start_session("00uAB", ip="192.0.2.1")
        await service.start_session("00uab")
        await service.close()

    asyncio.run(start())
    rows = run("sessions", "list", "00uAB", "--json").output.splitlines()
    assert [json.loads(r)["ip"] for r in rows] == ["192.0.2.1"]
    assert "banned 00uAB" in run("ban", "00uAB", "--until", "1h").output
    assert len(run("sessions", "list", "00uab", "--json").output.splitlines()) == 1
    assert run("sessions", "list", "00uAB", "--json").output == ""
