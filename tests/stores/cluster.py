"""A throwaway Redis Cluster: 6 ``redis-server`` nodes in cluster mode on
free loopback ports (3 primaries, 3 replicas), in memory only, in a
temporary directory, started and torn down by the suite.

From a script or a benchmark::

    from tests.stores.cluster import ThrowawayCluster

    with ThrowawayCluster() as cluster:
        url = cluster.url            # redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...
        cluster.kill_primary_of("some-key")   # SIGKILL; returns the dead node
        cluster.wait_ok()            # until a replica is promoted

From pytest: the session-scoped ``redis_cluster`` fixture (tests/stores/
conftest.py) gives one cluster for the whole run; each test uses its own
key prefix. Fault tests make their own (``with ThrowawayCluster()``).

Ports are below 55535 because the cluster bus listens on port + 10000.
Start takes 2-6 s; with ``--cluster-node-timeout 1000`` a failover takes
about 2.4 s. Everything is killed and the directory removed on exit, also
when start fails half-way.

Written by hand for the same reason as ``throwaway.py``: no plugin starts a
cluster of real nodes, and this is a small class.

A missing ``redis-server`` or ``redis-cli`` is a ``pytest.skip`` with the
reason when run under pytest, and a ``RuntimeError`` from a script.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis

#: The cluster bus listens on port + 10000, which must stay below 65536.
MAX_PORT = 55535
NODE_TIMEOUT_MS = 1000


def _free_port() -> int:
    """A free loopback port whose bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port >= MAX_PORT:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port below 55535 with a free bus port")


def _missing(what: str) -> None:
    try:
        import pytest
    except ImportError:  # pragma: no cover - scripts without pytest
        raise RuntimeError(what) from None
    pytest.skip(what)


@dataclass
class Node:
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)


@dataclass
class ThrowawayCluster:
    """Six nodes, three primaries with one replica each. Use as a context
    manager, or call :meth:`start` and :meth:`remove`."""

    nodes: int = 6
    replicas: int = 1
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="jwtwarden-cluster-")))
    members: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = shutil.which("redis-server")
        self.cli = shutil.which("redis-cli")
        if self.server is None or self.cli is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            _missing("redis-server or redis-cli is not installed: no throwaway Redis Cluster")

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> ThrowawayCluster:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(n.address for n in self.members)

    def start(self, timeout: float = 30) -> None:
        try:
            self.members = [Node(_free_port()) for _ in range(self.nodes)]
            for node in self.members:
                self.start_node(node)
            for node in self.members:
                self._wait_ping(node, timeout)
            create = [self.cli or "redis-cli", "--cluster", "create"]
            create += [n.address for n in self.members]
            create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
            done = subprocess.run(create, capture_output=True, timeout=timeout)
            if done.returncode != 0:
                out = (done.stdout + done.stderr).decode(errors="replace")
                raise RuntimeError(f"redis-cli --cluster create failed:\n{out}")
            self.wait_ok(timeout)
        except BaseException:
            self.remove()
            raise

    def start_node(self, node: Node) -> None:
        """(Re)start one node, empty: its cluster config survives in the
        directory, so a restarted node rejoins with its old identity."""
        args = ["--port", str(node.port), "--bind", "127.0.0.1", "--daemonize", "no"]
        args += ["--dir", str(self.dir), "--save", "", "--appendonly", "no"]
        args += ["--cluster-enabled", "yes"]
        args += ["--cluster-config-file", str(self.dir / f"nodes-{node.port}.conf")]
        args += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS)]
        log = (self.dir / f"redis-{node.port}.log").open("ab")
        node.proc = subprocess.Popen([self.server or "redis-server", *args], stdout=log, stderr=log)
        log.close()

    def kill(self, node: Node) -> None:
        """SIGKILL one node (no goodbye, no save)."""
        if node.proc is not None:
            node.proc.kill()
            node.proc.wait(10)
            node.proc = None

    def remove(self) -> None:
        for node in self.members:
            with suppress(Exception):  # tear down the rest regardless
                self.kill(node)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- inspection ----------------------------------------------------------

    def _wait_ping(self, node: Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = node.client()
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    died = node.proc is not None and node.proc.poll() is not None
                    if died or time.monotonic() > deadline:
                        log = (self.dir / f"redis-{node.port}.log").read_text(errors="replace")
                        raise RuntimeError(f"cluster node {node.port} did not start:\n{log}")
                    time.sleep(0.02)
        finally:
            client.close()

    def alive(self) -> list[Node]:
        return [n for n in self.members if n.proc is not None]

    def _view(self, node: Node) -> tuple[bool, int, int]:
        """(cluster_state ok, primaries with slots, replicas attached), as
        ``node`` sees the cluster."""
        client = node.client()
        try:
            info = client.execute_command("CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            ok = "cluster_state:ok" in text
            role = client.info("replication")
            if role.get("role") == "slave" and role.get("master_link_status") != "up":
                ok = False  # a replica that never synced cannot be promoted
            raw = client.execute_command("CLUSTER", "NODES")
            lines = (raw.decode() if isinstance(raw, bytes) else str(raw)).splitlines()
        finally:
            client.close()
        primaries = replicas = 0
        for line in lines:
            parts = line.split()
            flags = parts[2].split(",")
            if "fail" in flags or "fail?" in flags or parts[7] != "connected":
                continue
            if "master" in flags and len(parts) > 8:
                primaries += 1
            elif "slave" in flags and parts[3] != "-":
                replicas += 1
        return ok, primaries, replicas

    def wait_ok(self, timeout: float = 30, replicas: int | None = None) -> float:
        """Wait until every live node reports ``cluster_state:ok``, with
        three primaries serving slots and ``replicas`` replicas attached
        (by default every live node that is not a primary), each replica
        synced with its primary. Returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        primaries = self.nodes // (self.replicas + 1)
        while True:
            live = self.alive()
            want = len(live) - primaries if replicas is None else replicas
            try:
                views = [self._view(n) for n in live]
                if all(v == (True, primaries, want) for v in views):
                    return time.monotonic() - started
            except (redis.RedisError, IndexError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ok after {timeout}s: {views if live else []}")
            time.sleep(0.05)

    def primary_of(self, key: str) -> Node:
        """The live node serving ``key``'s slot."""
        for node in self.alive():
            client = node.client()
            try:
                slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
                for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        port = int(primary[1])
                        return next(n for n in self.members if n.port == port)
            except redis.RedisError:
                continue
            finally:
                client.close()
        raise RuntimeError(f"no live node knows the primary of {key!r}")

    def primaries(self) -> list[Node]:
        node = self.alive()[0]
        client = node.client()
        try:
            ports = {int(s[2][1]) for s in client.execute_command("CLUSTER", "SLOTS")}
        finally:
            client.close()
        return [n for n in self.members if n.port in ports]

    def kill_primary_of(self, key: str) -> Node:
        """SIGKILL the primary serving ``key``; returns it (restart it with
        :meth:`start_node`, and it comes back as a replica)."""
        node = self.primary_of(key)
        self.kill(node)
        return node

    def flushall(self) -> None:
        """Empty every primary (the replicas follow): a cluster that comes
        back without its data."""
        for node in self.primaries():
            client = node.client()
            try:
                client.flushall()
            finally:
                client.close()

    @contextmanager
    def prefix(self) -> Iterator[str]:
        """A new key prefix on this cluster, its keys deleted afterwards
        (on every primary); yields the prefix. Use it in the store URL:
        ``f"{cluster.url}?prefix={p}"``."""
        name = f"jwt-test-{secrets.token_hex(6)}"
        try:
            yield name
        finally:
            for node in self.primaries():
                client = node.client()
                try:
                    keys = list(client.scan_iter(match=f"{name}:*", count=1000))
                    for key in keys:  # one by one: keys of a node may be in many slots
                        client.unlink(key)
                except redis.RedisError:
                    pass  # a node killed by the test: its keys went with it
                finally:
                    client.close()
