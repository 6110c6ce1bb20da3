"""Capacity constants of the Redis store, single node and Cluster in one run
(issue 13, part 3). Run: ``python bench/scale_redis.py [SESSIONS]``
(default 1,000,000; about 15 min on this machine). It starts its own servers
and removes them: a throwaway ``redis-server`` on a free loopback port and a
6-node throwaway Cluster (tests/stores/cluster.py), never the shared 6379,
since it resets their statistics.

On each, in this order:

- rotations/s and their p50/p99, one process and four, through
  ``TokenService.refresh`` (``bench/stores.py``'s ``bench_service``, called,
  not copied), beside a bare ``PING`` round trip measured in the same run;
- commands and bytes per refresh: ``CONFIG RESETSTAT``, ``REFRESHES``
  refreshes through the service, then the ``INFO commandstats`` calls and
  the ``INFO stats`` client bytes in and out (replication bytes apart),
  summed over the primaries;
- CPU per revocation (``revoke_session``): summed over the primaries, and
  split into the primary serving the feed (``{r}`` on Cluster, the one that
  does not scale out) and the others, one at a time and CONCURRENCY in
  flight; then the feed primary's part alone at saturation
  (:func:`revocation_step`), which bounds revocations/s;
- bytes per session: ``used_memory`` summed over the primaries, before and
  after SESSIONS sessions (USERS users): USERS made through the store's own
  ``create_session``, the rest cloned from them with fresh sids and salts in
  bulk (``redis-cli --pipe``, one stream per primary), so the layout is the
  real one (session hash and TTL, the user's index entry and, on Cluster,
  the sid pointer and TTL); a clone is checked against its original and
  read and rotated through the store;
- on one node, one ``purge_expired`` of a feed holding one horizon of
  events at FEED_RATE revocations/s (:func:`feed_purge`).

Writes ``bench/results/scale_redis.json`` for ``bench/capacity.py``. The
machine is shared and noisy: each rate is a median of three rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from redis.crc import key_slot

from jwtwarden import Policy, TokenService
from stores import a_session, bench_service, redis_baseline, service

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stores.cluster import ThrowawayCluster  # noqa: E402
from tests.stores.throwaway import ThrowawayRedis  # noqa: E402

from jwtwarden.core.users import User  # noqa: E402
from jwtwarden.stores import open_store  # noqa: E402
from jwtwarden.stores.redis import RedisStore  # noqa: E402
from jwtwarden.stores.redis.connection import _sources  # noqa: E402
from jwtwarden.stores.redis.keys import Keys  # noqa: E402
from jwtwarden.tokens.refresh import new_salt, new_sid  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "correct horse battery"
REFRESHES = 2000
USERS = 1000
#: Sessions cloned per ``redis-cli --pipe`` batch (tens of MB of commands).
CHUNK = 100_000
#: Revocations in flight in the concurrent round.
CONCURRENCY = 32
#: Seconds of each round of :func:`revocation_step`.
STEP_SECONDS = 3.0
#: The revocation rate whose feed :func:`feed_purge` purges (issue 13's target).
FEED_RATE = 5000
ROUNDS = 3


@contextlib.contextmanager
def servers() -> Iterator[dict[str, tuple[str, list[redis.Redis]]]]:
    """{"redis": (url, [its node]), "cluster": (url, [its primaries])}."""
    single, cluster = ThrowawayRedis(), ThrowawayCluster()
    clients: list[redis.Redis] = []
    try:
        single.start()
        cluster.start()
        clients = [redis.Redis(port=single.port)] + [n.client() for n in cluster.primaries()]
        yield {"redis": (single.url, clients[:1]), "cluster": (cluster.url, clients[1:])}
    finally:
        for client in clients:
            client.close()
        cluster.remove()
        single.remove()


def total(clients: list[redis.Redis], section: str, name: str) -> int:
    return sum(int(c.info(section).get(name, 0)) for c in clients)


def calls(clients: list[redis.Redis]) -> dict[str, int]:
    """``INFO commandstats`` calls per command, summed over the nodes,
    without the INFO and CONFIG calls this script makes itself."""
    out: dict[str, int] = {}
    for client in clients:
        for name, stats in client.info("commandstats").items():
            command = name.removeprefix("cmdstat_")
            if command not in ("info", "config|resetstat", "config"):
                out[command] = out.get(command, 0) + int(stats["calls"])
    return out


async def rotations(url: str, tmp: Path) -> dict[str, float]:
    rounds = []
    for i in range(ROUNDS):
        prefixed = f"{url}{'&' if '?' in url else '?'}prefix=rot{i}"
        # A key file per round: each round's store is a new one, and a ring
        # bound to the last round's epoch made it report a data loss.
        (tmp / f"rot{i}").mkdir()
        rounds.append(await bench_service("redis", prefixed, tmp / f"rot{i}"))
    out = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    if url.startswith("redis://"):
        out["PING/s"] = statistics.median([await redis_baseline(url) for _ in range(ROUNDS)])
    return out


async def per_refresh(url: str, clients: list[redis.Redis], tmp: Path) -> dict[str, object]:
    svc = service(f"{url}{'&' if '?' in url else '?'}prefix=cmd", tmp / "cmd.keys")
    await svc.start()
    await svc.create_user("alice", PASSWORD)
    token = (await svc.login("alice", PASSWORD)).refresh_token
    token = (await svc.refresh(token)).refresh_token  # scripts loaded, sid remembered
    for client in clients:
        client.config_resetstat()
    cpu = total_cpu(clients)
    before_in = total(clients, "stats", "total_net_input_bytes")
    before_out = total(clients, "stats", "total_net_output_bytes")
    before_repl = total(clients, "stats", "total_net_repl_output_bytes")
    for _ in range(REFRESHES):
        token = (await svc.refresh(token)).refresh_token
    counted = calls(clients)
    spent = total_cpu(clients) - cpu
    bytes_in = total(clients, "stats", "total_net_input_bytes") - before_in
    bytes_out = total(clients, "stats", "total_net_output_bytes") - before_out
    repl = total(clients, "stats", "total_net_repl_output_bytes") - before_repl
    revocation = await per_revocation(svc, clients)
    store = svc.store
    assert isinstance(store, RedisStore)
    saturated = await revocation_step(clients, store._keys.feed, wait=store._keys.cluster)
    await svc.close()
    return {
        "server_cpu_us_per_refresh": spent / REFRESHES * 1e6,
        **revocation,
        "revocation_slot_saturated": saturated,
        "revocation_slot_cap_per_second": saturated["cap_per_second"],
        "commands_per_refresh": sum(counted.values()) / REFRESHES,
        "commands": {k: round(v / REFRESHES, 3) for k, v in sorted(counted.items())},
        "client_bytes_in_per_refresh": bytes_in / REFRESHES,
        "client_bytes_out_per_refresh": bytes_out / REFRESHES,
        "replication_bytes_per_refresh": repl / REFRESHES,
    }


def total_cpu(clients: list[redis.Redis]) -> float:
    """CPU seconds the nodes spent, user and system, main thread included."""
    return sum(
        float(c.info("cpu")["used_cpu_user"]) + float(c.info("cpu")["used_cpu_sys"])
        for c in clients
    )


async def per_revocation(svc: TokenService, clients: list[redis.Redis]) -> dict[str, object]:
    """Server CPU and commands per session revocation (``revoke_session``,
    what a logout and a reuse do to the store, its feed event included):
    over all primaries (``server_cpu_us_per_revocation``, as before) and split
    by node, since on Cluster only part of it lands on the primary serving
    ``{r}``, the one that cannot scale out. One caller at a time, then
    CONCURRENCY revocations in flight (what a busy server sends)."""
    store = svc.store
    assert isinstance(store, RedisStore)
    route = Router(clients)
    slot_node = route(store._keys.feed.encode())
    # On Cluster the sessions' user lives off the feed's primary, as nearly
    # every user does once there are several shards.
    sub = str(uuid.uuid4())
    while len(clients) > 1 and route(store._keys.user(sub).encode()) is slot_node:
        sub = str(uuid.uuid4())
    user = User(sub, f"revoker-{sub}", "h", (), time.time())
    await store.create_user(user)
    out: dict[str, object] = {}
    for label, in_flight in (("", 1), ("concurrent_", CONCURRENCY)):
        now = time.time_ns() // 1000 / 1e6
        sessions = [a_session(user.sub, now) for _ in range(REFRESHES)]
        for start in range(0, REFRESHES, 100):
            await asyncio.gather(*(store.create_session(s) for s in sessions[start : start + 100]))
        idle = idle_cpu(clients)
        for client in clients:
            client.config_resetstat()
        before = [node_cpu(c) for c in clients]
        started = time.monotonic()
        for start in range(0, REFRESHES, in_flight):
            batch = sessions[start : start + in_flight]
            await asyncio.gather(*(store.revoke_session(s.sid, now, "logout") for s in batch))
        took = time.monotonic() - started
        spent = [node_cpu(c)[i] - before[n][i] for n, c in enumerate(clients) for i in (0, 1)]
        main = {id(c): spent[2 * n + 1] for n, c in enumerate(clients)}
        background = {id(c): idle[n] * took for n, c in enumerate(clients)}
        on_slot = (main[id(slot_node)] - background[id(slot_node)]) / REFRESHES * 1e6
        elsewhere = sum(main[k] - background[k] for k in main if k != id(slot_node))
        out |= {
            f"{label}server_cpu_us_per_revocation": sum(spent[::2]) / REFRESHES * 1e6,
            f"{label}revocations_per_second": REFRESHES / took,
            f"{label}idle_cpu_us_per_revocation": sum(background.values()) / REFRESHES * 1e6,
            f"{label}revocation_slot_cpu_us_per_revocation": on_slot,
            f"{label}other_primaries_cpu_us_per_revocation": elsewhere / REFRESHES * 1e6,
            f"{label}revocation_slot_commands_usec": usec(slot_node, REFRESHES),
        }
        if not label:
            out["commands_per_revocation"] = sum(calls(clients).values()) / REFRESHES
    return out


async def revocation_step(clients: list[redis.Redis], feed: str, wait: bool) -> dict[str, float]:
    """The part of a revocation that lands on the node serving the feed, as
    the store sends it (``scripts/revoked.lua``, then on Cluster ``WAIT 1``
    in the same round trip, connection.py ``_on_node``), from CONCURRENCY
    connections for STEP_SECONDS, three rounds: the rate reached and that
    node's main-thread CPU per step, the figure that caps revocations
    there. Raw RESP on asyncio streams: through the store, Python tops out
    near 500 revocations/s here, far below what the node can take."""
    node = Router(clients)(feed.encode())
    port = int(node.connection_pool.connection_kwargs["port"])
    sha = node.script_load(_sources()["revoked"])
    prefix = feed.removesuffix(":x")  # P:{r} on Cluster: the same slot
    rounds = []
    for i in range(ROUNDS):
        keys = [f"{prefix}:cap{i}:rv".encode(), f"{prefix}:cap{i}:x".encode()]
        node.config_resetstat()
        cpu = node_cpu(node)[1]
        started = time.monotonic()
        stop = started + STEP_SECONDS
        done = await asyncio.gather(
            *(
                _steps(port, [b"EVALSHA", sha.encode(), b"2", *keys], wait, stop)
                for _ in range(CONCURRENCY)
            )
        )
        took, n = time.monotonic() - started, sum(done)
        stats = node.info("commandstats")
        rounds.append(
            {
                "steps_per_second": n / took,
                "main_thread_cpu_us_per_step": (node_cpu(node)[1] - cpu) / n * 1e6,
                "evalsha_usec_per_step": float(stats["cmdstat_evalsha"]["usec"]) / n,
                "wait_usec_per_step": float(stats.get("cmdstat_wait", {}).get("usec", 0)) / n,
            }
        )
        node.delete(*keys)
    out = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    out["cap_per_second"] = 1e6 / out["main_thread_cpu_us_per_step"]
    return out


async def _steps(port: int, script: list[bytes], wait: bool, stop: float) -> int:
    """One connection's revocation steps until ``stop``: fresh sids, one
    round trip each (EVALSHA and, if ``wait``, WAIT pipelined)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n, now = 0, repr(time.time()).encode()
    while time.monotonic() < stop:
        sent = resp([*script, new_sid().encode(), now, b"300000"])
        if wait:
            sent += resp([b"WAIT", b"1", b"1000"])
        writer.write(sent)
        for _ in range(2 if wait else 1):
            reply = await reader.readline()
            assert reply.startswith(b":"), reply
        n += 1
    writer.close()
    await writer.wait_closed()
    return n


def resp(command: list[bytes]) -> bytes:
    """One command in the Redis protocol (a RESP2 array of bulk strings)."""
    return b"*%d\r\n" % len(command) + b"".join(_bulk(arg) for arg in command)


def node_cpu(client: redis.Redis) -> tuple[float, float]:
    """A node's CPU seconds, user and system: all threads, then its main
    thread (the one that runs every command and script)."""
    cpu = client.info("cpu")
    total = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    return total, float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])


def idle_cpu(clients: list[redis.Redis], seconds: float = 2.0) -> list[float]:
    """Each node's main-thread CPU per second while nothing is sent to it
    (its timers and, on Cluster, the bus's gossip): subtracted from the
    revocations' share."""
    before = [node_cpu(c)[1] for c in clients]
    time.sleep(seconds)
    return [(node_cpu(c)[1] - b) / seconds for c, b in zip(clients, before, strict=True)]


def usec(client: redis.Redis, n: int) -> dict[str, float]:
    """``INFO commandstats`` microseconds per revocation, by command, on one
    node (commands a script runs are counted under their own names too, so
    the ``evalsha`` figure includes them)."""
    found = {
        name.removeprefix("cmdstat_"): float(stats["usec"]) / n
        for name, stats in client.info("commandstats").items()
    }
    return {
        k: round(v, 2) for k, v in sorted(found.items()) if k not in ("info", "config|resetstat")
    }


class Router:
    """The primary client that holds a key: the one node, or on Cluster the
    primary serving the key's slot (``CLUSTER SLOTS``, read once)."""

    def __init__(self, clients: list[redis.Redis]) -> None:
        self.clients = clients
        self._slots: list[redis.Redis] = []
        if len(clients) > 1:
            by_port = {c.connection_pool.connection_kwargs["port"]: c for c in clients}
            self._slots = [clients[0]] * 16384
            for start, end, primary, *_ in clients[0].execute_command("CLUSTER SLOTS"):
                for slot in range(start, end + 1):
                    self._slots[slot] = by_port[int(primary[1])]

    def __call__(self, key: bytes) -> redis.Redis:
        return self._slots[key_slot(key)] if self._slots else self.clients[0]


@dataclass(frozen=True)
class Template:
    """One session as ``create_session`` wrote it: its hash, TTLs and the
    score of its entry in the user's index."""

    sub: str
    fields: dict[bytes, bytes]
    session_pttl: int
    pointer_pttl: int | None
    score: float


def read_template(keys: Keys, route: Router, sid: str, sub: str) -> Template:
    session_key = keys.session(sid, sub if keys.cluster else None).encode()
    node = route(session_key)
    fields = node.hgetall(session_key)
    score = node.zscore(keys.user_sessions(sub), sid)
    assert fields and score is not None, "create_session wrote no session"
    pointer_pttl = None
    if keys.cluster:
        pointer = keys.pointer(sid).encode()
        assert route(pointer).get(pointer) == sub.encode()
        pointer_pttl = int(route(pointer).pttl(pointer))
    return Template(sub, fields, int(node.pttl(session_key)), pointer_pttl, score)


def clone_sessions(keys: Keys, route: Router, templates: list[Template], n: int) -> list[str]:
    """Write ``n`` clones of ``templates`` (round robin), each with a fresh
    sid and salt, exactly as ``create_session`` lays a session out: the hash
    with its TTL, the entry in its user's index and, on Cluster, the sid
    pointer with its TTL. Each primary's commands go to it in bulk through
    ``redis-cli --pipe`` (Redis's mass insertion), CHUNK sessions at a time:
    redis-py, parsing one reply per command in Python, ran at about 10,000
    commands/s here. The commands are built from each template's fixed parts
    (its fields but the salt, its user's slot), only the sid, salt and
    pointer slot being new."""
    sids: list[str] = []
    parts = [_Parts(keys, route, t) for t in templates]
    buffers: dict[int, tuple[redis.Redis, bytearray, list[int]]] = {}

    def queue(node: redis.Redis, commands: int, data: bytes) -> None:
        _, buffer, count = buffers.setdefault(id(node), (node, bytearray(), [0]))
        buffer += data
        count[0] += commands

    for start in range(0, n, CHUNK):
        buffers.clear()
        for i in range(start, min(n, start + CHUNK)):
            t = parts[i % len(parts)]
            sid = new_sid().encode()
            sids.append(sid.decode())
            key = t.session_prefix + sid + t.session_suffix
            salt = new_salt()
            session = b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n%s$1\r\ns\r\n$%d\r\n%s\r\n" % (
                t.hset_args, len(key), key, t.fields, len(salt), salt,
            )  # fmt: skip
            session += b"*3\r\n$7\r\nPEXPIRE\r\n$%d\r\n%s\r\n%s" % (len(key), key, t.session_ttl)
            session += b"%s$%d\r\n%s\r\n" % (t.zadd, len(sid), sid)
            queue(t.node, 3, session)
            if t.pointer_ttl:
                pointer = keys.pointer(sid.decode()).encode()
                queue(
                    route(pointer),
                    1,
                    b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n%s" % (len(pointer), pointer, t.pointer_ttl),
                )
        for node, buffer, count in buffers.values():
            pipe_in(node, bytes(buffer), count[0])
    return sids


class _Parts:
    """A template's fixed parts, in the Redis protocol (RESP2)."""

    def __init__(self, keys: Keys, route: Router, t: Template) -> None:
        # P:s:{sub}: + sid on Cluster, P:s:{ + sid + } on one node (keys.py).
        self.session_prefix, self.session_suffix = keys.session("", t.sub).encode(), b""
        if not keys.cluster:
            self.session_prefix, self.session_suffix = keys.session("").encode()[:-1], b"}"
        index = keys.user_sessions(t.sub).encode()
        #: Where the user's slot is: the session and the index.
        self.node = route(index)
        fields = {k: v for k, v in t.fields.items() if k != b"s"}
        self.hset_args = 2 + 2 * (len(fields) + 1)
        self.fields = b"".join(_bulk(item) for pair in fields.items() for item in pair)
        self.session_ttl = _bulk(b"%d" % t.session_pttl)
        self.zadd = b"*4\r\n$4\r\nZADD\r\n" + _bulk(index) + _bulk(repr(t.score).encode())
        self.pointer_ttl = b""
        if t.pointer_pttl is not None:
            ttl = _bulk(b"%d" % t.pointer_pttl)
            self.pointer_ttl = _bulk(t.sub.encode()) + b"$2\r\nPX\r\n" + ttl


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


def pipe_in(node: redis.Redis, data: bytes, commands: int) -> None:
    """Send ``data`` to ``node`` with ``redis-cli --pipe``; every one of its
    ``commands`` must have succeeded."""
    port = str(node.connection_pool.connection_kwargs["port"])
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", port, "--pipe"],
        input=data,
        capture_output=True,
        timeout=600,
        check=True,
    )
    found = re.search(rb"errors: (\d+), replies: (\d+)", done.stdout)
    if found is None or int(found.group(1)) or int(found.group(2)) != commands:
        raise SystemExit(f"redis-cli --pipe: {done.stdout[-300:]!r}")


def settled(clients: list[redis.Redis]) -> None:
    """Wait until each primary's replicas have everything (their output
    buffers drained), so ``used_memory`` holds data, not buffers."""
    for client in clients:
        if int(client.info("replication").get("connected_slaves", 0)):
            client.execute_command("WAIT", 1, 60_000)


async def bytes_per_session(url: str, clients: list[redis.Redis], n: int) -> dict[str, float]:
    """``used_memory`` over the primaries before and after ``n`` sessions:
    USERS made through ``create_session`` (one per user, the truth), the rest
    cloned from them in bulk (:func:`clone_sessions`); then one clone is read
    and rotated through the store, which must find it as its own."""
    store = open_store(f"{url}{'&' if '?' in url else '?'}prefix=mem")
    assert isinstance(store, RedisStore)
    keys, route = Keys("mem", cluster=len(clients) > 1), Router(clients)
    now = time.time_ns() // 1000 / 1e6
    users = [User(str(uuid.uuid4()), f"user{i}", "h", (), now) for i in range(USERS)]
    for user in users:
        await store.create_user(user)
    settled(clients)
    before = total(clients, "memory", "used_memory")
    started = time.monotonic()
    real = [a_session(user.sub, now) for user in users[: min(n, USERS)]]
    for start in range(0, len(real), 100):  # within the store's connection pool
        await asyncio.gather(*(store.create_session(s) for s in real[start : start + 100]))
    templates = [read_template(keys, route, s.sid, s.sub) for s in real]
    made = time.monotonic() - started
    sids = clone_sessions(keys, route, templates, n - len(real))
    settled(clients)
    loaded = time.monotonic() - started
    after = total(clients, "memory", "used_memory")
    if sids:
        i = len(sids) // 2
        same_layout(keys, route, real[i % len(real)].sid, sids[i], templates[i % len(templates)])
        await check_clone(url, sids[i], templates[i % len(templates)])
    await store.close()
    return {
        "sessions": n,
        "users": len(users),
        "bytes_per_session": (after - before) / n,
        "used_memory_bytes": after,
        "load_seconds": loaded,
        "sessions_per_second_loaded": n / loaded,
        "made_by_create_session": len(real),
        "create_session_seconds": made,
    }


def same_layout(keys: Keys, route: Router, real: str, clone: str, t: Template) -> None:
    """A clone's hash has the encoding, size, field count and TTL of the
    real session's."""

    def layout(sid: str) -> tuple[tuple[object, ...], int]:
        key = keys.session(sid, t.sub if keys.cluster else None).encode()
        node = route(key)
        found = node.object("encoding", key), node.memory_usage(key, samples=0), node.hlen(key)
        return found, int(node.pttl(key))

    (copied, copied_ttl), (made, made_ttl) = layout(clone), layout(real)
    assert copied == made, f"a clone is not laid out as the session it copies: {copied} {made}"
    assert abs(copied_ttl - made_ttl) < 600_000, "a clone's TTL is not its session's"


async def check_clone(url: str, sid: str, template: Template) -> None:
    """A clone is a session to the store: a fresh store (nothing remembered,
    so on Cluster it follows the pointer) reads it with its user and rotates
    it."""
    store = open_store(f"{url}{'&' if '?' in url else '?'}prefix=mem")
    found = await store.get_session(sid)
    assert found is not None and found[0].sub == template.sub, "a clone is no session"
    now = time.time_ns() // 1000 / 1e6
    idle = store.policy.idle_ttl
    rotated = await store.rotate_if_live(sid, found[0].generation, now, idle)
    assert rotated is not None and rotated[0].generation == found[0].generation + 1
    await store.close()


async def feed_purge(url: str, clients: list[redis.Redis]) -> dict[str, float]:
    """One ``purge_expired`` on a feed holding one horizon of events at
    FEED_RATE revocations/s, the oldest purge interval's worth of them dead
    (what each purge finds): the node's main-thread CPU and the caller's CPU
    and wall time; then a second purge, finding nothing dead. The events are
    written as ``revoked.lua`` writes them, in bulk (``redis-cli --pipe``)."""
    policy = Policy()
    events = int(FEED_RATE * policy.revocation_horizon)
    dead = int(FEED_RATE * policy.purge_interval)
    store = RedisStore(f"{url}{'&' if '?' in url else '?'}prefix=purge", policy=policy)
    now = time.time()
    feed = store._keys.feed.encode()
    for start in range(0, events, CHUNK):
        data = bytearray()
        for i in range(start, min(events, start + CHUNK)):
            at = repr(now - policy.revocation_horizon - 1 if i < dead else now).encode()
            sid = new_sid().encode()
            data += resp([b"XADD", feed, b"*", b"k", b"sid", b"i", sid, b"a", at])
        pipe_in(clients[0], bytes(data), min(events, start + CHUNK) - start)
    out: dict[str, float] = {"events": events, "dead": dead}
    for label in ("", "nothing_dead_"):
        cpu, caller, started = node_cpu(clients[0])[1], time.process_time(), time.monotonic()
        deleted = await store.purge_expired(now, policy)
        out |= {
            f"{label}deleted": deleted,
            f"{label}redis_main_thread_cpu_s": node_cpu(clients[0])[1] - cpu,
            f"{label}caller_cpu_s": time.process_time() - caller,
            f"{label}wall_s": time.monotonic() - started,
        }
    clients[0].delete(feed)
    await store.close()
    return out


async def main(sessions: int) -> None:
    results: dict[str, object] = {
        "benchmark": "bench/scale_redis.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "note": "shared, noisy machine (other engineers' tests running); medians of 3 rounds",
    }
    with tempfile.TemporaryDirectory() as tmp, servers() as found:
        for kind, (url, clients) in found.items():
            # Key files of their own per server: one bound to the other
            # server's epoch made the second store report a data loss (a
            # store cutoff at once) in earlier runs.
            here = Path(tmp) / kind
            here.mkdir()
            print(f"{kind}: rotations", file=sys.stderr, flush=True)
            got: dict[str, object] = {"rotations": await rotations(url, here)}
            print(f"{kind}: commands per refresh", file=sys.stderr, flush=True)
            got["per_refresh"] = await per_refresh(url, clients, here)
            print(f"{kind}: {sessions:,} sessions", file=sys.stderr, flush=True)
            got["memory"] = await bytes_per_session(url, clients, sessions)
            if kind == "redis":  # the same steps as on the {r} primary
                print(f"{kind}: feed purge", file=sys.stderr, flush=True)
                got["feed_purge"] = await feed_purge(url, clients)
            got["nodes"] = len(clients)
            results[kind] = got
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_redis.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def machine() -> str:
    import os
    import platform

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{platform.node()}: {os.cpu_count()} cores, {model}, Linux {platform.release()}"


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
