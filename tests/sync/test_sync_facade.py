"""``jwtwarden.sync.TokenService`` on every store: many threads at once,
connections bounded and given back on ``close()``, and an interpreter that
exits promptly, closed or not."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from jwtwarden import TokenService as AsyncTokenService
from jwtwarden.errors import InvalidGrantError
from jwtwarden.events import Event
from jwtwarden.settings import Settings
from jwtwarden.sync import TokenService
from tests.sync.conftest import Target

pytestmark = pytest.mark.store

THREADS = 8
CALLS = 1000


def settles_at(target: Target, baseline: int) -> bool:
    """Whether the count comes back to ``baseline``: the server drops a
    closed connection from its lists a moment after the socket closes."""
    deadline = time.monotonic() + 5
    while target.open_connections() != baseline:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_facade_has_every_public_method_of_the_async_service() -> None:
    public = {
        name
        for name, member in inspect.getmembers(AsyncTokenService)
        if not name.startswith("_") and callable(member)
    }
    missing = {name for name in public if not hasattr(TokenService, name)}
    assert missing == set()
    assert TokenService.start_session.__doc__ == AsyncTokenService.start_session.__doc__


def test_a_thousand_calls_from_eight_threads(target: Target) -> None:
    baseline = target.open_connections()
    peak = 0
    with TokenService.open(target.settings) as service:

        def session_work(i: int) -> int:
            """Four calls: start, refresh, verify, logout."""
            pair = service.start_session(f"user-{i % 20}", claims={"n": i})
            pair = service.refresh(pair.refresh_token)
            claims = service.verify(pair.access_token)
            assert claims.raw["n"] == i
            service.logout(claims)
            return 4

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(session_work, i) for i in range(CALLS // 4)]
            while not all(f.done() for f in futures):
                peak = max(peak, target.open_connections())
                time.sleep(0.05)
            assert sum(f.result() for f in futures) == CALLS
        peak = max(peak, target.open_connections())
        assert service.list_sessions("user-1") == []
    # One loop, one pool: never more connections than threads calling at
    # once (plus the feed's and the pool's spare), whatever the call count.
    assert peak - baseline <= THREADS + 4
    assert settles_at(target, baseline)


def test_close_is_idempotent_and_a_closed_facade_refuses_calls(target: Target) -> None:
    baseline = target.open_connections()
    service = TokenService.open(target.settings)
    service.start_session("42")
    service.close()
    service.close()
    assert settles_at(target, baseline)
    with pytest.raises(RuntimeError, match="closed"):
        service.start_session("42")


def test_errors_are_the_async_services(target: Target) -> None:
    with TokenService.open(target.settings) as service, pytest.raises(InvalidGrantError):
        service.refresh("not-a-token")


def test_a_callback_calling_back_is_refused_not_a_deadlock() -> None:
    seen: list[str] = []

    with TokenService.open(Settings(store="memory://", issuer="https://a.example")) as service:

        def on_event(event: Event) -> None:
            try:
                service.get_user("42")
            except RuntimeError as exc:
                seen.append(str(exc))

        service.subscribe(on_event)
        service.start_session("42")
    assert seen and "own loop" in seen[0]


_SCRIPT = """
import sys
from jwtwarden.settings import Settings
from jwtwarden.sync import TokenService
service = TokenService.open(Settings())
for i in range(50):
    pair = service.start_session("exit-test")
    service.refresh(pair.refresh_token)
if sys.argv[1] == "close":
    service.close()
print("done")
"""


@pytest.mark.parametrize("ending", ["close", "forget"])
def test_the_interpreter_exits_promptly(target: Target, ending: str) -> None:
    baseline = target.open_connections()
    env = {
        **os.environ,
        "JWTWARDEN_STORE": target.settings.store,
        "JWTWARDEN_KEY_FILE": target.settings.key_file,
        "JWTWARDEN_ISSUER": "https://auth.example",
        "JWTWARDEN_ARGON2_TIME_COST": "1",
        "JWTWARDEN_ARGON2_MEMORY_COST": "8",
        "JWTWARDEN_ARGON2_PARALLELISM": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, ending],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert elapsed < 15, f"exit took {elapsed:.1f} s"
    assert result.stderr == ""  # no "Event loop is closed", no unclosed-pool warning
    assert settles_at(target, baseline)
    assert not [t for t in threading.enumerate() if t.name == "jwtwarden-sync"]
