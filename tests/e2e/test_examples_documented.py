"""Each example app, started exactly as its docstring's ``Run::`` block says
(the command read from the docstring, in a shell, with the variables it
exports), against a real ``jwtwarden serve``:

- without client credentials it refuses to start, naming them;
- with them, ``/readyz`` is 200 once the first snapshot is in, a token is
  accepted, and the same token is refused once its session logged out;
- when the auth server stops, a good token gets 503 with ``Retry-After``
  after ``max_staleness`` (never 401), and 200 again once the server is
  back, without restarting the example.

The apps with their own user table (``*_own_users.py``) run their
``Run::`` block too: add a user, start, log in, read ``/me``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, Serve, free_port, jwtwarden

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "starlette": ROOT / "examples" / "starlette_app.py",
    "fastapi": ROOT / "examples" / "fastapi_app.py",
    "flask": ROOT / "examples" / "flask_app.py",
    "django": ROOT / "examples" / "django_app" / "__init__.py",
}
EXPORTED = {"JWTWARDEN_ISSUER", "JWTWARDEN_CLIENT_ID", "JWTWARDEN_CLIENT_SECRET"}


def documented_command(example: Path) -> str:
    """The command of the docstring's ``Run::`` block (``export`` lines are
    checked to name the variables this test provides, then left out)."""
    doc = ast.get_docstring(ast.parse(example.read_text())) or ""
    block = doc.split("Run")[1].split("::", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line.strip())
    text = "\n".join(lines).replace("\\\n", " ")
    exported = set(
        re.findall(r"\b(JWTWARDEN_\w+)=", " ".join(re.findall(r"^export .*$", text, re.M)))
    )
    assert exported == EXPORTED, f"{example} exports {exported}"
    [command] = [ln for ln in text.splitlines() if ln and not ln.startswith(("export", "#"))]
    assert "8001" in command
    return command


@contextlib.contextmanager
def run_example(
    name: str, env: dict[str, str], port: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The documented command in a shell; its output goes to ``log`` (a
    file, so a chatty app never blocks on a full pipe)."""
    command = documented_command(EXAMPLES[name]).replace("8001", str(port))
    bin_dir = str(Path(sys.executable).parent)  # uvicorn, flask, python
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=ROOT,
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the shell and the app
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_for(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)  # waiting on other processes, not on a time rule
    raise AssertionError(f"not within {seconds}s: {what}")


def status(url: str, token: str | None = None) -> httpx.Response | None:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.get(url, headers=headers, timeout=5)
    except httpx.HTTPError:
        return None


def login(url: str) -> str:
    r = httpx.post(
        url + "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_every_example_documents_the_credentials_and_its_command() -> None:
    for example in EXAMPLES.values():
        assert documented_command(example)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_without_credentials_the_example_refuses_to_start_and_says_why(
    name: str, tmp_path: Path
) -> None:
    # Found before anything is fetched: no auth server is needed to see it.
    log = tmp_path / f"{name}.log"
    with run_example(name, {"JWTWARDEN_ISSUER": "http://127.0.0.1:9"}, free_port(), log) as proc:
        proc.wait(timeout=60)
    out = log.read_text()
    assert proc.returncode != 0, out
    assert "JWTWARDEN_CLIENT_ID" in out and "jwtwarden clients add" in out, out


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_rejects_a_logged_out_token_and_survives_an_auth_server_outage(
    name: str, serve: Serve, tmp_path: Path
) -> None:
    auth_port, port = free_port(), free_port()
    app = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        auth = stack.enter_context(contextlib.ExitStack())
        url = auth.enter_context(serve(port=auth_port))
        made = jwtwarden("clients", "add", f"{name}-api", cwd=tmp_path, env={**os.environ})
        creds = json.loads(made)
        env = {
            "JWTWARDEN_ISSUER": url,
            "JWTWARDEN_CLIENT_ID": creds["client_id"],
            "JWTWARDEN_CLIENT_SECRET": creds["client_secret"],
            "JWTWARDEN_MAX_STALENESS": "2",
        }
        log = tmp_path / f"{name}.log"
        proc = stack.enter_context(run_example(name, env, port, log))

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            answer = status(app + "/readyz")
            return answer is not None and answer.status_code == 200

        wait_for(ready, 60, f"{name} ready")
        token, other = login(url), login(url)
        assert answer_of(app + "/me", token).status_code == 200
        httpx.post(url + "/logout", headers={"authorization": f"Bearer {token}"})
        wait_for(lambda: answer_of(app + "/me", token).status_code == 401, 5, "logout seen")
        assert answer_of(app + "/me", other).status_code == 200

        auth.close()  # the auth server stops: 503 + Retry-After, never 401
        wait_for(lambda: answer_of(app + "/me", other).status_code != 200, 10, "stale")
        refused = answer_of(app + "/me", other)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert "www-authenticate" not in refused.headers
        assert answer_of(app + "/readyz").status_code == 503
        with serve(port=auth_port):  # back: 200 again, the example not restarted
            wait_for(lambda: answer_of(app + "/me", other).status_code == 200, 40, "recovered")
            assert answer_of(app + "/me", token).status_code == 401
            assert answer_of(app + "/readyz").status_code == 200


def answer_of(url: str, token: str | None = None) -> httpx.Response:
    answer = status(url, token)
    assert answer is not None, f"{url} did not answer"
    return answer


OWN_USERS = {
    "flask": (ROOT / "examples" / "flask_own_users.py", "/login", "email"),
    "fastapi": (ROOT / "examples" / "fastapi_own_users.py", "/token", "username"),
}


def documented_lines(example: Path) -> list[str]:
    """The ``Run::`` block of an own-users example, one command a line."""
    doc = ast.get_docstring(ast.parse(example.read_text())) or ""
    block = doc.split("Run::", 1)[1]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("name", sorted(OWN_USERS))
def test_the_own_users_example_runs_as_documented(name: str, tmp_path: Path) -> None:
    """Its exported store, its add-user command (the password on stdin), its
    server command; then the user logs in and reads /me."""
    example, login_path, user_field = OWN_USERS[name]
    export, add_user, serve_app = documented_lines(example)
    assert export == "export JWTWARDEN_STORE=sqlite:///./app-tokens.db"
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "JWTWARDEN_STORE": "sqlite:///./app-tokens.db",
    }
    made = subprocess.run(
        ["bash", "-c", add_user],
        cwd=tmp_path,
        env=env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0 and made.stdout.strip() == "1", made.stderr
    port = free_port()
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", serve_app.replace("8001", str(port))],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        app = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            return status(app + "/hello") is not None

        wait_for(up, 60, f"{name} up")
        form = {user_field: "ada@example.com", "password": PASSWORD}
        tokens = httpx.post(app + login_path, data=form)
        assert tokens.status_code == 200, tokens.text
        me = answer_of(app + "/me", tokens.json()["access_token"])
        assert me.json() == {"id": 1, "email": "ada@example.com"}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
