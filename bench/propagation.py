"""Revocation propagation: from the API call that revokes to the moment a
Verifier in another process (this one) rejects the token, through the
server's /revocations feed. N sessions are logged out one at a time through
``POST /logout``; p50/p99 per store. Run: ``python bench/propagation.py``
(local PostgreSQL and Redis as in the tests; ~1 min). Loopback only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _support import CHEAP_TEST_ARGON2, free_port, store_url

from jwtwarden import SessionRevokedError, Verifier

N = 1000
PASSWORD = "correct horse battery"


def measure(kind: str) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp, store_url(kind, Path(tmp)) as url:
        work = Path(tmp)
        env = {
            **os.environ,
            **CHEAP_TEST_ARGON2,
            "JWTWARDEN_STORE": url,
            "JWTWARDEN_KEY_FILE": str(work / "keys"),
            "JWTWARDEN_ACCESS_LOG": "false",
        }
        jw = [sys.executable, "-m", "jwtwarden"]
        subprocess.run(
            [*jw, "users", "add", "alice", "--password-stdin"],
            env=env,
            cwd=work,
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        creds = json.loads(
            subprocess.run(
                [*jw, "clients", "add", "bench"],
                env=env,
                cwd=work,
                text=True,
                check=True,
                capture_output=True,
            ).stdout
        )
        port = free_port()
        server = subprocess.Popen(
            [*jw, "serve", "--port", str(port)],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base)
            verifier = Verifier(
                issuer=base,
                audience="jwtwarden",
                jwks_url=base + "/.well-known/jwks.json",
                feed=base + "/revocations",
                feed_credentials=(creds["client_id"], creds["client_secret"]),
            )
            assert verifier.feed is not None and verifier.feed.wait_ready(10)
            with httpx.Client(base_url=base) as client:
                tokens = [
                    client.post(
                        "/token",
                        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
                    ).json()["access_token"]
                    for _ in range(N)
                ]
                for token in tokens:
                    verifier.verify(token)
                latencies = [_logout_and_wait(client, verifier, token) for token in tokens]
            verifier.close()
            return latencies
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


def _logout_and_wait(client: httpx.Client, verifier: Verifier, token: str) -> float:
    start = time.perf_counter()
    client.post("/logout", headers={"authorization": f"Bearer {token}"})
    while True:
        try:
            verifier.verify(token)
        except SessionRevokedError:
            return time.perf_counter() - start
        if time.perf_counter() - start > 10:
            raise SystemExit("revocation never arrived")
        time.sleep(0.0002)


def _wait(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise SystemExit("server did not start")


def main() -> None:
    print(f"{N} logouts each, API call -> rejection by a Verifier in another process")
    for kind in ("sqlite", "postgres", "redis"):
        lat = sorted(measure(kind))
        p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
        print(
            f"{kind:9} p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   "
            f"max {lat[-1] * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
