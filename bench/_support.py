"""What the benchmarks share.

- Cheap test argon2 settings, a free loopback port, and throwaway stores on
  the local servers (a fresh SQLite file, a PostgreSQL schema or a Redis key
  prefix, removed afterwards).
- The pinned HTTP method of bench/server.py and bench/peers/run.py: every
  server under test is one worker process pinned to core 0 (``taskset -c
  0``, its threads included), wrk is pinned to core 1 (``taskset -c 1 wrk
  -t1 -c32``), the same connections and duration for every scenario, the
  median of several rounds, and the worker's RSS read from
  ``/proc/<pid>/status`` right after each round.
- A jwtwarden server on a throwaway store, its logins, and rounds of the
  refresh grant with a fresh refresh token per request.

Every server is started in a process group of its own and stopped when its
``with`` block ends, on error and Ctrl-C too. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

#: Cheap argon2id parameters, for benchmarks and tests only.
CHEAP_TEST_ARGON2 = {
    "JWTWARDEN_ARGON2_TIME_COST": "1",
    "JWTWARDEN_ARGON2_MEMORY_COST": "8",
    "JWTWARDEN_ARGON2_PARALLELISM": "1",
}
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
BENCH = Path(__file__).resolve().parent
PASSWORD = "correct horse battery"

SERVER_CORE, LOAD_CORE = 0, 1
CONNECTIONS = 32


@contextlib.contextmanager
def store_url(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work}/bench-{secrets.token_hex(4)}.db"
    elif kind == "postgres":
        import psycopg

        schema = f"jwt_bench_{secrets.token_hex(4)}"
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
        finally:
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    elif kind == "redis":
        prefix = f"bench{secrets.token_hex(4)}"
        try:
            yield f"{REDIS}?prefix={prefix}"
        finally:
            delete_redis_prefix(prefix)
    else:
        raise ValueError(kind)


def delete_redis_prefix(prefix: str) -> None:
    """Delete this run's keys (``prefix:*``) and nothing else."""
    import redis

    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The pinned method


@dataclass(frozen=True)
class Pinning:
    """The ``taskset`` prefixes for the server and for wrk, or none (and
    why) when taskset or a second core is missing."""

    server: tuple[str, ...]
    load: tuple[str, ...]
    problem: str | None

    def describe(self) -> str:
        if self.problem:
            return f"NOT PINNED ({self.problem})"
        return f"server pinned to core {SERVER_CORE}, wrk to core {LOAD_CORE} (taskset)"


def pinning() -> Pinning:
    """Pin if we can; say so loudly on stderr if we cannot."""
    cores = os.sched_getaffinity(0)
    problem = None
    if shutil.which("taskset") is None:
        problem = "taskset not found: apt-get install util-linux"
    elif not {SERVER_CORE, LOAD_CORE} <= cores:
        problem = f"cores {SERVER_CORE} and {LOAD_CORE} are not both ours (have {sorted(cores)})"
    if problem:
        bar = "!" * 78
        print(
            f"{bar}\nWARNING: {problem}.\nServers and wrk share the cores: "
            f"the figures are not comparable with pinned runs.\n{bar}",
            file=sys.stderr,
        )
        return Pinning((), (), problem)
    return Pinning(("taskset", "-c", str(SERVER_CORE)), ("taskset", "-c", str(LOAD_CORE)), None)


@dataclass
class Server:
    """A server process in its own process group; ``worker`` is the process
    serving requests (itself, or for gunicorn the arbiter's one child)."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    forks_worker: bool = False

    def worker_pid(self) -> int:
        if not self.forks_worker:
            return self.proc.pid
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        pids = children.split()
        if len(pids) != 1:
            raise RuntimeError(f"expected one worker under {self.proc.pid}, found {pids}")
        return int(pids[0])

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.worker_pid()}/status").read_text()
        kib = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        return int(kib.group(1)) / 1024 if kib else float("nan")  # type: ignore[union-attr]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the worker, all its threads."""
        fields = Path(f"/proc/{self.worker_pid()}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.contextmanager
def serve(
    cmd: list[str],
    port: int,
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    pin: tuple[str, ...] = (),
    forks_worker: bool = False,
    timeout: float = 60,
) -> Iterator[Server]:
    """Start ``cmd`` (pinned by ``pin``) and yield once its port accepts;
    its output goes to ``log``. The whole process group is stopped on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*pin, *cmd],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log, forks_worker)
    try:
        deadline = time.monotonic() + timeout
        while not _accepts(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[:4]} exited {proc.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[:4]} did not listen in {timeout:.0f} s")
            time.sleep(0.05)
        if forks_worker:
            while not Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().strip():
                time.sleep(0.05)
        yield server
    except Exception:
        print(f"--- the last lines of {cmd[:4]}'s output:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for_status(
    send: Callable[[], int], want: int = 200, timeout: float = 15, what: str = ""
) -> None:
    """Retry ``send`` (returns an HTTP status) until it returns ``want``."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ConnectionError):
            status = send()
            if status == want:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what or 'the server'} answered {status}, not {want}")


@dataclass
class Load:
    """How every scenario is loaded: the same for all of them."""

    seconds: int = 5
    rounds: int = 3
    connections: int = CONNECTIONS
    pin: Pinning = field(default_factory=pinning)

    def describe(self) -> str:
        return (
            f"wrk -t1 -c{self.connections} -d{self.seconds}s, median of {self.rounds} "
            f"rounds; {self.pin.describe()}"
        )

    def wrk(self, url: str, *extra: str, script_args: tuple[str, ...] = ()) -> dict[str, float]:
        """One round of wrk against ``url``."""
        tail = ["--", *script_args] if script_args else []
        cmd = [
            *self.pin.load,
            "wrk",
            "-t1",
            f"-c{self.connections}",
            f"-d{self.seconds}s",
            "--timeout",
            "10s",
            "--latency",
            *extra,
            url,
            *tail,
        ]
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=self.seconds + 60, check=True
        ).stdout
        return parse_wrk(out)

    def round(
        self, server: Server, url: str, *extra: str, script_args: tuple[str, ...] = ()
    ) -> dict[str, float]:
        """One round, with what the worker spent on it: its RSS right after,
        the share of a core it got (near 1.0 when it is the bottleneck and
        nothing else takes its core) and its CPU time per request."""
        cpu = server.cpu_seconds()
        run = self.wrk(url, *extra, script_args=script_args)
        spent = server.cpu_seconds() - cpu
        run["rss_mib"] = server.rss_mib()
        run["core_share"] = spent / self.seconds
        run["cpu_us_per_request"] = spent / run["requests"] * 1e6 if run["requests"] else 0.0
        return run

    def rounds_of(
        self, server: Server, url: str, *extra: str, script_args: tuple[str, ...] = ()
    ) -> dict[str, float]:
        """The median of ``rounds`` rounds."""
        return median(
            [self.round(server, url, *extra, script_args=script_args) for _ in range(self.rounds)]
        )


def parse_wrk(out: str) -> dict[str, float]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "requests": float(total.group(1)) if total else 0.0,
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        # gunicorn's sync worker closes every connection: wrk counts the
        # reconnects it could not make as socket errors.
        "socket_errors": float(sum(map(int, sockets.groups()))) if sockets else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


# jwtwarden


def jwtwarden_env(work: Path, store: str, name: str) -> dict[str, str]:
    return {
        **os.environ,
        **CHEAP_TEST_ARGON2,
        "JWTWARDEN_STORE": store,
        "JWTWARDEN_KEY_FILE": str(work / f"{name}.keys"),
    }


def jwtwarden(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None) -> str:
    """Run the jwtwarden CLI of this venv; its stdout."""
    return subprocess.run(
        [sys.executable, "-m", "jwtwarden", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    ).stdout


@contextlib.contextmanager
def jwtwarden_server(
    work: Path, env: dict[str, str], *, access_log: bool, pin: tuple[str, ...], name: str
) -> Iterator[Server]:
    """``jwtwarden serve`` (one uvicorn worker, uvloop + httptools), with
    the user ``bench`` added to its store first."""
    with contextlib.suppress(subprocess.CalledProcessError):  # already there
        jwtwarden(
            "users", "add", "bench", "--password-stdin", env=env, cwd=work, stdin=PASSWORD + "\n"
        )
    port = free_port()
    env = {
        **env,
        "JWTWARDEN_ISSUER": f"http://127.0.0.1:{port}",
        "JWTWARDEN_ACCESS_LOG": "true" if access_log else "false",
    }
    cmd = [sys.executable, "-m", "jwtwarden", "serve", "--port", str(port)]
    with serve(cmd, port, cwd=work, env=env, log=work / f"{name}.log", pin=pin) as server:
        yield server


def login(url: str) -> dict[str, str]:
    import httpx

    form = {"grant_type": "password", "username": "bench", "password": PASSWORD}
    response = httpx.post(url + "/token", data=form, timeout=30)
    response.raise_for_status()
    return dict(response.json())


async def fresh_refresh_tokens(url: str, n: int) -> list[str]:
    """Log in n times through the server itself, as clients would (so its
    sessions are its own, as in production)."""
    import httpx

    form = {"grant_type": "password", "username": "bench", "password": PASSWORD}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one() -> str:
            for attempt in range(3):
                try:
                    response = await client.post("/token", data=form)
                    break
                except httpx.TransportError:  # a pooled connection the server closed
                    if attempt == 2:
                        raise
            response.raise_for_status()
            return str(response.json()["refresh_token"])

        tokens: list[str] = []
        while len(tokens) < n:
            tokens += await asyncio.gather(*(one() for _ in range(min(64, n - len(tokens)))))
    return tokens


def wrk_logins(load: Load, url: str, n: int, work: Path) -> list[str]:
    """n fresh refresh tokens, from logins sent by wrk (bench/_login.lua):
    a far lighter client than httpx, so the server's core sets the pace.
    Whatever wrk did not get in its time is topped up through httpx."""
    out = work / f"logins-{secrets.token_hex(4)}.txt"
    seconds = 30 + n // 200
    cmd = [*load.pin.load, "wrk", "-t1", f"-c{load.connections}", f"-d{seconds}s"]
    cmd += ["-s", str(BENCH / "_login.lua"), url, "--", str(out), str(n)]
    subprocess.run(cmd, capture_output=True, timeout=seconds + 60, check=True)
    tokens = out.read_text().split() if out.exists() else []
    out.unlink(missing_ok=True)
    if len(tokens) < n:
        tokens += asyncio.run(fresh_refresh_tokens(url, n - len(tokens)))
    return tokens[:n]


def fresh_token_rounds(
    load: Load,
    server: Server,
    url: str,
    script: Path,
    mint: Callable[[int], list[str]],
    work: Path,
    *,
    first_guess: float,
) -> dict[str, float]:
    """Rounds of wrk where each request spends one fresh refresh token.

    Each round gets 1.3x the tokens the last round's rate needs. A round that
    sent more requests than it had tokens (so re-presented spent ones, which
    are refused) is run again with enough; after two tries it stands, and
    its refusals show in the non-2xx column."""
    rate = first_guess
    runs = []
    tokens_file = work / f"tokens-{secrets.token_hex(4)}.txt"
    for _ in range(load.rounds):
        for _attempt in range(3):
            n = int(rate * load.seconds * 1.3) + 200
            tokens_file.write_text("\n".join(mint(n)) + "\n")
            run = load.round(server, url, "-s", str(script), script_args=(str(tokens_file),))
            rate = run["requests"] / load.seconds
            if run["requests"] <= n:
                break
        runs.append(run)
    tokens_file.unlink()
    return median(runs)


def jwtwarden_refresh(load: Load, server: Server, work: Path) -> dict[str, float]:
    """The refresh grant, one fresh refresh token per request."""
    return fresh_token_rounds(
        load,
        server,
        server.url,
        BENCH / "_refresh.lua",
        lambda n: wrk_logins(load, server.url, n, work),
        work,
        first_guess=1000,
    )
