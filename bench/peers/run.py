"""jwtwarden against its peers, in one run, on one pinned core.

Run with the project's venv (``pip install -e '.[test]'``)::

    python bench/peers/run.py                      # the whole table, ~15 min (mostly logins)
    python bench/peers/run.py --only hello,flask-jwt-extended --seconds 1 --rounds 1

The peers are installed from ``bench/peers/requirements.txt`` (pinned) into
``bench/peers/.venv`` on first use; jwtwarden runs from the project's venv.
Every server is one worker process pinned to core 0, wrk is pinned to core
1 (``wrk -t1 -c32``), with the same connections and duration for every
scenario (see ``bench/_support.py``). It needs wrk and taskset, PostgreSQL on
127.0.0.1:5432 (trust; a database ``jwtbench_<random>`` is created and
dropped) and Redis on 127.0.0.1:6379 (keys under ``jwtbench<random>:``,
deleted at the end). It prints the table and writes ``docs/benchmarks.md``
and ``docs/benchmarks.png`` (``--no-docs`` to leave them alone).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

PEERS = Path(__file__).resolve().parent
sys.path.insert(0, str(PEERS.parent))

import httpx  # noqa: E402
from _support import (  # noqa: E402
    POSTGRES,
    REDIS,
    Load,
    delete_redis_prefix,
    free_port,
    fresh_token_rounds,
    jwtwarden,
    jwtwarden_env,
    jwtwarden_refresh,
    jwtwarden_server,
    login,
    serve,
    store_url,
    wait_for_status,
)

APPS = PEERS / "apps"
VENV = PEERS / ".venv"
ROOT = PEERS.parent.parent
DOCS = ROOT / "docs"
PEER_PYTHON = VENV / "bin" / "python"


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    side: str  # "baseline", "jwtwarden" or "peer"
    setup: str  # scenarios of one setup share its servers


SCENARIOS = [
    Scenario(
        "hello",
        "Starlette JSON hello (uvicorn, uvloop + httptools, no access log)",
        "baseline",
        "hello",
    ),
    Scenario("me", "jwtwarden `GET /me` (access log on: the default)", "jwtwarden", "me"),
    Scenario("me-nolog", "jwtwarden `GET /me`, `JWTWARDEN_ACCESS_LOG=false`", "jwtwarden", "me"),
    Scenario(
        "fastapi-plain",
        "FastAPI route, no auth (the reference of the next row)",
        "baseline",
        "fastapi",
    ),
    Scenario(
        "fastapi-requiretoken",
        "FastAPI route with jwtwarden `RequireToken` (JWKS + feed)",
        "jwtwarden",
        "fastapi",
    ),
    Scenario("refresh-sqlite", "jwtwarden refresh grant, SQLite", "jwtwarden", "refresh-sqlite"),
    Scenario("refresh-redis", "jwtwarden refresh grant, Redis", "jwtwarden", "refresh-redis"),
    Scenario(
        "refresh-postgres", "jwtwarden refresh grant, PostgreSQL", "jwtwarden", "refresh-postgres"
    ),
    Scenario(
        "fastapi-pyjwt",
        "FastAPI + PyJWT EdDSA + Redis denylist/cutoff (hand-rolled)",
        "peer",
        "fastapi-pyjwt",
    ),
    Scenario(
        "flask-jwt-extended",
        "flask-jwt-extended + Redis blocklist (gunicorn, 1 sync worker)",
        "peer",
        "flask",
    ),
    Scenario(
        "simplejwt-view",
        "simplejwt protected view (DRF, PostgreSQL; no revocation check)",
        "peer",
        "simplejwt",
    ),
    Scenario(
        "simplejwt-refresh",
        "simplejwt refresh (ROTATE_REFRESH_TOKENS, BLACKLIST_AFTER_ROTATION)",
        "peer",
        "simplejwt",
    ),
]
BY_NAME = {s.name: s for s in SCENARIOS}


@dataclass
class Run:
    load: Load
    work: Path
    only: set[str]
    prefix: str  # Redis keys and the PostgreSQL database of this run
    results: dict[str, dict[str, float]]
    load_before: str

    def wants(self, name: str) -> bool:
        return name in self.only

    def record(self, name: str, result: dict[str, float]) -> None:
        self.results[name] = result
        print(f"  {name:22} {_row(result)}", flush=True)


# Servers


def uvicorn(python: Path | str, app_dir: Path, app: str, port: int) -> list[str]:
    """The uvicorn settings every ASGI scenario shares: one worker, uvloop,
    httptools, no access log (jwtwarden serve sets the same)."""
    return [
        str(python),
        "-m",
        "uvicorn",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--app-dir",
        str(app_dir),
        app,
    ]


def gunicorn(app: str, port: int) -> list[str]:
    return [
        str(PEER_PYTHON),
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(APPS),
        "--log-level",
        "warning",
        app,
    ]


def peer_env(run: Run, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {
        **env,
        "PEER_SECRET": secrets.token_hex(32),
        "PEER_REDIS_URL": REDIS,
        "PEER_REDIS_PREFIX": run.prefix,
        **extra,
    }


def peer(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run(
        [str(PEER_PYTHON), *args],
        cwd=APPS,
        env=env,
        text=True,
        check=True,
        capture_output=True,
        timeout=300,
    ).stdout


def bearer_check(url: str, token: str) -> Callable[[], int]:
    return lambda: httpx.get(url, headers={"authorization": f"Bearer {token}"}).status_code


# Setups: each starts its servers, measures its selected scenarios, stops them.


def setup_hello(run: Run) -> None:
    port = free_port()
    cmd = uvicorn(sys.executable, PEERS.parent, "_bare_app:app", port)
    with serve(
        cmd,
        port,
        cwd=run.work,
        env=dict(os.environ),
        log=run.work / "hello.log",
        pin=run.load.pin.server,
    ) as server:
        wait_for_status(lambda: httpx.get(server.url + "/").status_code, what="hello")
        run.record("hello", run.load.rounds_of(server, server.url + "/"))


def setup_me(run: Run) -> None:
    with store_url("sqlite", run.work) as store:
        env = jwtwarden_env(run.work, store, "me")
        for name, access_log in (("me", True), ("me-nolog", False)):
            if not run.wants(name):
                continue
            with jwtwarden_server(
                run.work, env, access_log=access_log, pin=run.load.pin.server, name=name
            ) as server:
                token = login(server.url)["access_token"]
                url = server.url + "/me"
                wait_for_status(bearer_check(url, token), what=name)
                run.record(
                    name, run.load.rounds_of(server, url, "-H", f"Authorization: Bearer {token}")
                )


def setup_fastapi(run: Run) -> None:
    """The FastAPI app verifies against a jwtwarden server (not pinned, as
    PostgreSQL and Redis are not: it only serves the JWKS and the feed)."""
    with store_url("sqlite", run.work) as store:
        env = jwtwarden_env(run.work, store, "fastapi")
        with jwtwarden_server(run.work, env, access_log=False, pin=(), name="issuer") as issuer:
            creds = json.loads(jwtwarden("clients", "add", "bench-fastapi", env=env, cwd=run.work))
            token = login(issuer.url)["access_token"]
            port = free_port()
            app_env = {
                **os.environ,
                "JWTWARDEN_ISSUER": issuer.url,
                "JWTWARDEN_CLIENT_ID": creds["client_id"],
                "JWTWARDEN_CLIENT_SECRET": creds["client_secret"],
            }
            cmd = uvicorn(sys.executable, APPS, "jwtwarden_fastapi:app", port)
            with serve(
                cmd,
                port,
                cwd=run.work,
                env=app_env,
                log=run.work / "fastapi.log",
                pin=run.load.pin.server,
            ) as server:
                # The feed's first snapshot, then the keys.
                wait_for_status(bearer_check(server.url + "/me", token), what="RequireToken")
                for name, path in (("fastapi-plain", "/plain"), ("fastapi-requiretoken", "/me")):
                    if run.wants(name):
                        run.record(
                            name,
                            run.load.rounds_of(
                                server, server.url + path, "-H", f"Authorization: Bearer {token}"
                            ),
                        )


def setup_refresh(kind: str) -> Callable[[Run], None]:
    def setup(run: Run) -> None:
        with store_url(kind, run.work) as store:
            env = jwtwarden_env(run.work, store, f"refresh-{kind}")
            with jwtwarden_server(
                run.work, env, access_log=True, pin=run.load.pin.server, name=f"refresh-{kind}"
            ) as server:
                run.record(f"refresh-{kind}", jwtwarden_refresh(run.load, server, run.work))

    return setup


def setup_fastapi_pyjwt(run: Run) -> None:
    env = peer_env(run, PEER_KEY_FILE=str(run.work / "peer-ed25519.pem"))
    token = peer(["fastapi_pyjwt_app.py", "mint"], env).strip()
    _seed_redis(run.prefix, "deny")
    port = free_port()
    cmd = uvicorn(PEER_PYTHON, APPS, "fastapi_pyjwt_app:app", port)
    with serve(
        cmd, port, cwd=APPS, env=env, log=run.work / "fastapi-pyjwt.log", pin=run.load.pin.server
    ) as server:
        url = server.url + "/me"
        wait_for_status(bearer_check(url, token), what="fastapi-pyjwt")
        run.record(
            "fastapi-pyjwt", run.load.rounds_of(server, url, "-H", f"Authorization: Bearer {token}")
        )


def setup_flask(run: Run) -> None:
    env = peer_env(run)
    token = peer(["flask_app.py", "mint"], env).strip()
    _seed_redis(run.prefix, "blocklist")
    port = free_port()
    with serve(
        gunicorn("flask_app:app", port),
        port,
        cwd=APPS,
        env=env,
        log=run.work / "flask.log",
        pin=run.load.pin.server,
        forks_worker=True,
    ) as server:
        url = server.url + "/me"
        wait_for_status(bearer_check(url, token), what="flask-jwt-extended")
        run.record(
            "flask-jwt-extended",
            run.load.rounds_of(server, url, "-H", f"Authorization: Bearer {token}"),
        )


def setup_simplejwt(run: Run) -> None:
    with postgres_database(run.prefix) as database:
        env = peer_env(run, PEER_PG_DB=database)
        mint = ["-m", "simplejwt_app.mint"]
        peer([*mint, "setup"], env)
        port = free_port()
        with serve(
            gunicorn("simplejwt_app.wsgi:application", port),
            port,
            cwd=APPS,
            env=env,
            log=run.work / "simplejwt.log",
            pin=run.load.pin.server,
            forks_worker=True,
        ) as server:
            if run.wants("simplejwt-view"):
                token = peer([*mint, "access"], env).strip()
                url = server.url + "/me"
                wait_for_status(bearer_check(url, token), what="simplejwt")
                run.record(
                    "simplejwt-view",
                    run.load.rounds_of(server, url, "-H", f"Authorization: Bearer {token}"),
                )
            if run.wants("simplejwt-refresh"):
                run.record(
                    "simplejwt-refresh",
                    fresh_token_rounds(
                        run.load,
                        server,
                        server.url,
                        PEERS / "simplejwt_refresh.lua",
                        lambda n: peer([*mint, "refresh", str(n)], env).split(),
                        run.work,
                        first_guess=300,
                    ),
                )


SETUPS: dict[str, Callable[[Run], None]] = {
    "hello": setup_hello,
    "me": setup_me,
    "fastapi": setup_fastapi,
    "refresh-sqlite": setup_refresh("sqlite"),
    "refresh-redis": setup_refresh("redis"),
    "refresh-postgres": setup_refresh("postgres"),
    "fastapi-pyjwt": setup_fastapi_pyjwt,
    "flask": setup_flask,
    "simplejwt": setup_simplejwt,
}


def _seed_redis(prefix: str, kind: str, n: int = 1000) -> None:
    """Some revoked jtis, so the lookups are of a populated keyspace."""
    import redis

    client = redis.Redis.from_url(REDIS)
    pipe = client.pipeline()
    for _ in range(n):
        pipe.set(f"{prefix}:{kind}:{secrets.token_hex(16)}", "1", ex=3600)
    pipe.execute()
    client.close()


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    import psycopg

    name = prefix.replace("-", "_")
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# The peers' venv


def ensure_peer_venv() -> None:
    requirements = PEERS / "requirements.txt"
    want = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = VENV / "requirements.sha256"
    if stamp.exists() and stamp.read_text() == want and PEER_PYTHON.exists():
        return
    print(f"installing the peers into {VENV.relative_to(ROOT)} (once) ...", flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(PEER_PYTHON), "-m", "pip", "install", "-q", "-r", str(requirements)],
        check=True,
        timeout=1800,
    )
    stamp.write_text(want)


# Output


def _row(r: dict[str, float]) -> str:
    errors = r["non_2xx"] + r["socket_errors"]
    tail = f"  ERRORS {errors:.0f}" if errors else ""
    return (
        f"{r['rps']:9,.0f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
        f"RSS {r['rss_mib']:5.1f} MiB  core {r['core_share']:4.0%}  "
        f"{r['cpu_us_per_request']:6.0f} µs/req{tail}"
    )


def _ratio(a: dict[str, float] | None, b: dict[str, float] | None) -> str:
    if a is None or b is None or not b["rps"]:
        return "-"
    ratio = a["rps"] / b["rps"]
    return f"{ratio:.3f}" if ratio < 10 else f"{ratio:.1f}"


def _cpu_ratio(a: dict[str, float] | None, b: dict[str, float] | None) -> str:
    """b's worker CPU time per request over a's: the ratio of req/s the two
    would reach on a core of their own, whatever else ran beside them."""
    if a is None or b is None or not a["cpu_us_per_request"]:
        return "-"
    return f"{b['cpu_us_per_request'] / a['cpu_us_per_request']:.3f}"


def tables(results: dict[str, dict[str, float]]) -> str:
    """The Markdown tables: every scenario, then jwtwarden against each peer."""
    hello = results.get("hello")
    lines = [
        "| scenario | req/s | p50 | p99 | worker RSS | core used | worker CPU per request "
        "| ÷ Starlette hello | ÷ hello, by CPU per request | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in SCENARIOS:
        r = results.get(s.name)
        if r is None:
            continue
        errors = r["non_2xx"] + r["socket_errors"]
        lines.append(
            f"| {s.label} | {r['rps']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
            f"{r['rss_mib']:.1f} MiB | {r['core_share']:.0%} | {r['cpu_us_per_request']:.0f} µs | "
            f"{_ratio(r, hello)} | {_cpu_ratio(r, hello)} | {errors:.0f} |"
        )
    peers = [s for s in SCENARIOS if s.side == "peer" and s.name in results]
    ours = [s for s in SCENARIOS if s.side == "jwtwarden" and s.name in results]
    if peers and ours:
        lines += [
            "",
            "jwtwarden's req/s ÷ each peer's:",
            "",
            "| jwtwarden scenario | " + " | ".join(f"÷ {p.name}" for p in peers) + " |",
            "| --- |" + " ---: |" * len(peers),
        ]
        for s in ours:
            cells = " | ".join(_ratio(results[s.name], results[p.name]) for p in peers)
            lines.append(f"| {s.name} | {cells} |")
    derived = []
    if "fastapi-requiretoken" in results and "fastapi-plain" in results:
        guarded, plain = results["fastapi-requiretoken"], results["fastapi-plain"]
        derived.append(
            "- FastAPI route with `RequireToken` ÷ the same route without it: "
            f"{_ratio(guarded, plain)} (by CPU per request: {_cpu_ratio(guarded, plain)})"
        )
    if "me" in results and "me-nolog" in results:
        on, off = results["me"], results["me-nolog"]
        cost = 1 - on["rps"] / off["rps"]
        cpu_cost = 1 - off["cpu_us_per_request"] / on["cpu_us_per_request"]
        derived.append(
            f"- the access log's cost on `GET /me`: {cost:.1%} of its throughput "
            f"(by CPU per request: {cpu_cost:.1%})"
        )
    if derived:
        lines += ["", *derived]
    return "\n".join(lines)


def machine_facts(run: Run) -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts = [
        f"- date: {_now():%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu}; {os.cpu_count()} cores; Linux {platform.release()}",
        f"- method: {run.load.describe()}",
        f"- load average (1, 5, 15 min) before the run: {run.load_before}; after: "
        f"{_load_average()} (anything else running shares the pinned cores)",
        f"- Python {platform.python_version()} (both venvs)",
        f"- jwtwarden {metadata.version('jwtwarden')} at commit {_git_commit()}",
        "- jwtwarden's venv: "
        + ", ".join(
            f"{p} {metadata.version(p)}"
            for p in (
                "starlette",
                "fastapi",
                "uvicorn",
                "uvloop",
                "httptools",
                "PyJWT",
                "cryptography",
                "redis",
                "hiredis",
                "psycopg",
            )
        ),
        f"- peers' venv (bench/peers/requirements.txt): {_peer_versions()}",
        f"- PostgreSQL {_postgres_version()}, Redis {_redis_version()} (the machine's; not pinned)",
    ]
    return facts


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _git_commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def _peer_versions() -> str:
    if not PEER_PYTHON.exists():
        return "not installed"
    names = [
        line.split("==")[0].split("[")[0]
        for line in (PEERS / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    code = (
        "import sys; from importlib.metadata import version; "
        "print(', '.join(f'{n} {version(n)}' for n in sys.argv[1:]))"
    )
    return subprocess.run(
        [str(PEER_PYTHON), "-c", code, *names], capture_output=True, text=True
    ).stdout.strip()


def _postgres_version() -> str:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(POSTGRES) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]
    return "unknown"


def _redis_version() -> str:
    import redis

    with contextlib.suppress(Exception):
        return str(redis.Redis.from_url(REDIS).info("server")["redis_version"])
    return "unknown"


def write_docs(run: Run, note: str) -> None:
    results = run.results
    data = [
        {
            "name": s.name,
            "label": s.label,
            "side": s.side,
            "rps": results[s.name]["rps"],
            "ratio": results[s.name]["rps"] / results["hello"]["rps"],
        }
        for s in SCENARIOS
        if s.name in results and "hello" in results
    ]
    data_file = run.work / "plot.json"
    data_file.write_text(
        json.dumps({"title": run.load.describe(), "rows": data, "date": f"{_now():%Y-%m-%d}"})
    )
    subprocess.run(
        [str(PEER_PYTHON), str(PEERS / "plot.py"), str(data_file), str(DOCS / "benchmarks.png")],
        check=True,
        timeout=120,
    )
    text = (
        (PEERS / "benchmarks.md.in")
        .read_text()
        .format(
            note=note or "(no note given for this run)",
            facts="\n".join(machine_facts(run)),
            tables=tables(results),
        )
    )
    (DOCS / "benchmarks.md").write_text(text)
    print(f"wrote {DOCS / 'benchmarks.md'} and {DOCS / 'benchmarks.png'}")


# Main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", help="comma-separated scenarios (hello is always run): " + ", ".join(BY_NAME)
    )
    parser.add_argument("--seconds", type=int, default=5, help="per round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="median of (default 3)")
    parser.add_argument(
        "--no-docs", action="store_true", help="print only; leave docs/benchmarks.* alone"
    )
    parser.add_argument("--note", default="", help="a caveat to print in docs/benchmarks.md")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(BY_NAME)
    unknown = only - set(BY_NAME)
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; known: {', '.join(BY_NAME)}")
    args.only = only | {"hello"}
    if args.seconds < 1 or args.rounds < 1:
        parser.error("--seconds and --rounds must be at least 1")
    return args


def _interrupt(signum: int, frame: object) -> None:
    # As Ctrl-C: whichever SIGINT handler is in force (asyncio.run's, while
    # logins run, cancels its task) turns it into KeyboardInterrupt.
    os.kill(os.getpid(), signal.SIGINT)


def main() -> None:
    try:
        measure(parse_args())
    except KeyboardInterrupt:
        sys.exit("interrupted: every server this run started is stopped, its data removed")


def measure(args: argparse.Namespace) -> None:
    for tool in ("wrk",):
        if shutil.which(tool) is None:
            sys.exit(f"bench/peers/run.py needs {tool}: apt-get install {tool}")
    # Even where the shell started us with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    ensure_peer_venv()
    load = Load(seconds=args.seconds, rounds=args.rounds)
    prefix = f"jwtbench{secrets.token_hex(4)}"
    started = time.monotonic()
    print(load.describe(), flush=True)
    with tempfile.TemporaryDirectory(prefix="jwtbench-") as tmp:
        run = Run(load, Path(tmp), args.only, prefix, {}, _load_average())
        try:
            for setup, fn in SETUPS.items():
                if any(s.setup == setup and s.name in args.only for s in SCENARIOS):
                    print(f"{setup}:", flush=True)
                    fn(run)
        finally:
            delete_redis_prefix(prefix)
        print(f"\n{load.describe()}; {time.monotonic() - started:.0f} s in all\n")
        print(tables(run.results))
        if not args.no_docs:
            write_docs(run, args.note)


if __name__ == "__main__":
    main()
