"""The capacity model (issue 13, part 3): what 100 million live sessions,
50,000 refreshes/s, 5,000 revocations/s and 1,000 resource-server processes
need, from constants measured on this machine. Run:
``python bench/capacity.py`` (instant; it reads bench/results/*.json).

Every measured constant comes from a benchmark in bench/ and is printed with
it:

- ``scale_redis.json`` (bench/scale_redis.py): bytes per session on one
  Redis node and on a 3-primary Cluster, Redis CPU, commands and bytes per
  refresh and per revocation, rotations/s single node and Cluster;
- ``scale_postgres.json`` (bench/scale_postgres.py): rows and bytes per
  session at 1,000,000 sessions;
- ``scale_followers.json`` (bench/scale_followers.py): one server process
  holding feed followers while revocations arrive at a fixed rate: server
  CPU per delivered event and propagation p50/p99 at 5,000 revocations/s,
  and the highest rate 500 followers kept up with;
- docs/benchmarks.md (bench/peers/run.py): refresh grants/s of one pinned
  jwtwarden worker on Redis.

The few numbers that are choices, not measurements, are the ``PLAN``
constants below; the table marks them ``(plan)``.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
BENCHMARKS_MD = BENCH.parent / "docs" / "benchmarks.md"

#: The load the model is asked about (issue 13).
SESSIONS = 100_000_000
REFRESHES = 50_000
REVOCATIONS = 5_000
RESOURCE_SERVERS = 1_000

#: Choices, not measurements.
PLAN = {
    "replicas_per_primary": 1,
    "node_memory_gib": 64,  # RAM of one Redis node
    "memory_fill": 0.7,  # used_memory / RAM: room for fork, fragmentation, growth
    "shard_cpu_target": 0.5,  # a Redis primary's one core, busy at most half the time
    "auth_core_target": 0.7,  # an auth-server worker's core
    "feed_core_target": 0.5,  # the share of a feed process's core its followers may take
}


def load(name: str) -> dict:  # type: ignore[type-arg]
    path = RESULTS / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bench/{name.replace('.json', '.py')} first")
    return dict(json.loads(path.read_text()))


def refresh_grant_per_core() -> tuple[float, float]:
    """(req/s, worker CPU µs per request) of the Redis refresh grant, one pinned worker."""
    row = re.search(
        r"^\| jwtwarden refresh grant, Redis \| ([\d,]+) \|.*?\| (\d+) µs \|",
        BENCHMARKS_MD.read_text(),
        re.M,
    )
    if row is None:
        raise SystemExit("docs/benchmarks.md has no 'jwtwarden refresh grant, Redis' row")
    return float(row.group(1).replace(",", "")), float(row.group(2))


@dataclass
class Row:
    what: str
    value: str
    source: str


def fan_out(feed: dict) -> dict:  # type: ignore[type-arg]
    """The fan-out figures at the target rate.

    The server's CPU per revocation is fitted as ``a + b × followers`` over
    the follower counts tried at 5,000 revocations/s (least squares on the
    medians): ``a`` is what the process spends reading the event from the
    store and applying it, whoever follows; ``b`` is each follower's stream.
    Also: the most followers that kept up in most rounds, and the
    propagation of the smallest count that did (furthest from saturating its
    core, as a process run within the core target is)."""
    rows = [r for r in feed["at_target_by_followers"] if r["server_cpu_us_per_delivery"]]
    if feed["target_rate"] != REVOCATIONS or not rows:
        raise SystemExit("scale_followers.json has no fan-out at 5,000 revocations/s: rerun it")
    # A count whose followers were sent fresh snapshots also paid for those:
    # not the steady cost, so not fitted when any other count is left.
    steady = [r for r in rows if not r["resnapshots"]]
    fitted = steady or rows
    xs = [float(r["followers"]) for r in fitted]
    ys = [r["server_cpu_us_per_delivery"] * r["followers"] for r in fitted]
    kept = [r for r in rows if r["kept_up_rounds"] * 2 > r["rounds"]]
    near = kept[0] if kept else rows[0]
    if len(set(xs)) > 1:
        slope, intercept = statistics.linear_regression(xs, ys)
    else:
        slope, intercept = ys[0] / xs[0], 0.0
    if intercept < 0:  # noise: charge it all to the followers
        slope, intercept = statistics.median(y / x for x, y in zip(xs, ys, strict=True)), 0.0
    return {
        "per_event_us": intercept,
        "per_follower_us": slope,
        "fitted": [r["followers"] for r in fitted],
        "kept_up": kept[-1]["followers"] if kept else 0,
        "server_core_share": (kept[-1] if kept else rows[0])["server_core_share"],
        "near": near["followers"],
        "near_p50_ms": near["every_follower_p50_ms"],
        "near_p99_ms": near["every_follower_p99_ms"],
    }


def model() -> tuple[list[Row], list[str]]:
    redis, pg, feed = (
        load("scale_redis.json"),
        load("scale_postgres.json"),
        load("scale_followers.json"),
    )
    cluster, single = redis["cluster"], redis["redis"]
    rows: list[Row] = []
    add = lambda what, value, source: rows.append(Row(what, value, source))  # noqa: E731
    r_src, p_src, f_src = "scale_redis", "scale_postgres", "scale_followers"

    # Memory
    per_session = cluster["memory"]["bytes_per_session"]
    copies = 1 + PLAN["replicas_per_primary"]
    data = SESSIONS * per_session
    add(
        "Redis bytes/session, single node", f"{single['memory']['bytes_per_session']:,.0f} B", r_src
    )
    add("Redis bytes/session, Cluster (+ sid pointer)", f"{per_session:,.0f} B", r_src)
    add("Redis data, 100 M sessions, primaries", f"{data / 2**30:,.1f} GiB", "model")
    add(f"  with {copies - 1} replica each", f"{data * copies / 2**30:,.1f} GiB", "model")
    pgs = pg["postgres"]
    add("PostgreSQL rows/session", f"{pgs['rows_per_session']:.2f}", p_src)
    add(
        "PostgreSQL bytes/session (table + indexes)",
        f"{pgs['table_bytes_per_session']:,.0f} + {pgs['index_bytes_per_session']:,.0f} B",
        p_src,
    )
    add(
        "PostgreSQL, 100 M sessions",
        f"{SESSIONS * pgs['total_bytes_per_session'] / 2**30:,.1f} GiB per copy",
        "model",
    )

    # Per refresh
    ref = cluster["per_refresh"]
    add(
        "Redis commands/refresh (scripts' inner calls included)",
        f"{ref['commands_per_refresh']:.1f}",
        r_src,
    )
    net = ref["client_bytes_in_per_refresh"] + ref["client_bytes_out_per_refresh"]
    add("client bytes/refresh (in + out)", f"{net:,.0f} B", r_src)
    add("replication bytes/refresh", f"{ref['replication_bytes_per_refresh']:,.0f} B", r_src)
    add("Redis CPU/refresh", f"{ref['server_cpu_us_per_refresh']:.0f} µs", r_src)
    # A revocation's Redis CPU summed over the primaries, with 32 in flight
    # (as a loaded server sends them) when measured, else one at a time.
    per_revocation = ref.get(
        "concurrent_server_cpu_us_per_revocation", ref["server_cpu_us_per_revocation"]
    )
    add("Redis CPU/revocation (all primaries)", f"{per_revocation:.0f} µs", r_src)
    traffic = REFRESHES * (net + ref["replication_bytes_per_refresh"])
    add("store traffic at 50,000 refreshes/s", f"{traffic * 8 / 1e6:,.0f} Mbit/s", "model")

    # Shards
    budget = PLAN["shard_cpu_target"] * 1e6 / ref["server_cpu_us_per_refresh"]
    add("per-shard refresh budget (half a core)", f"{budget:,.0f} refreshes/s", "model")
    cpu_load = (
        REFRESHES * ref["server_cpu_us_per_refresh"]
        + REVOCATIONS * per_revocation
    ) / 1e6
    by_cpu = math.ceil(cpu_load / PLAN["shard_cpu_target"])
    room = PLAN["node_memory_gib"] * 2**30 * PLAN["memory_fill"]
    by_memory = math.ceil(data / room)
    shards = max(by_cpu, by_memory, 3)
    add("shards for CPU", f"{by_cpu} ({cpu_load:.1f} cores of Redis)", "model")
    add(f"shards for memory ({PLAN['node_memory_gib']} GiB nodes)", str(by_memory), "model")
    add("shards / nodes", f"{shards} / {shards * copies}", "model")
    # Every revocation and the feed share one slot ({r}, docs/stores.md,
    # "Cluster"): one shard's single thread takes them all, whatever the
    # number of shards.
    # Its cost there is the {r} primary's own main-thread CPU per revocation
    # step at saturation (revoked.lua and its WAIT, 32 raw connections), when
    # measured; else, erring high, the whole revocation's CPU on all primaries.
    feed_cap = ref.get("revocation_slot_cap_per_second") or 1e6 / per_revocation
    feed_slot = REVOCATIONS / feed_cap
    add(
        "the revocation slot {r}: CPU at 5,000 revocations/s",
        f"{feed_slot:.2f} cores of one shard (caps at {feed_cap:,.0f}/s)",
        "model",
    )
    rot_c, rot_s = cluster["rotations"], single["rotations"]
    add(
        "rotations/s, 1 client process: Cluster / single",
        f"{rot_c['rotations/s']:,.0f} / {rot_s['rotations/s']:,.0f} "
        f"({rot_c['rotations/s'] / rot_s['rotations/s']:.2f}x)",
        r_src,
    )
    add(
        "rotations/s, 4 client processes: Cluster / single",
        f"{rot_c['rotations/s, 4 processes']:,.0f} / {rot_s['rotations/s, 4 processes']:,.0f} "
        f"({rot_c['rotations/s, 4 processes'] / rot_s['rotations/s, 4 processes']:.2f}x)",
        r_src,
    )

    # Auth servers
    per_core, cpu_us = refresh_grant_per_core()
    auth = math.ceil(REFRESHES / (per_core * PLAN["auth_core_target"]))
    add(
        "refresh grants/s, one worker on one core",
        f"{per_core:,.0f} ({cpu_us:.0f} µs CPU)",
        "benchmarks.md",
    )
    add("auth-server processes per core", "1 (one uvicorn worker: one event loop)", "design")
    add("auth-server processes (= cores) for 50,000/s", str(auth), "model")

    # Feed: one process's fan-out, measured at the model's revocation rate
    at = fan_out(feed)
    room = PLAN["feed_core_target"] * 1e6 / REVOCATIONS - at["per_event_us"]
    per_process = max(0, math.floor(room / at["per_follower_us"]))
    relays = math.ceil(RESOURCE_SERVERS / per_process) if per_process else None
    low = feed["by_rate"]
    held = [r for r in low if r["rate"] and r["kept_up_rounds"] * 2 > r["rounds"]]
    add(
        f"{feed['followers']} followers on one process: highest rate kept up",
        (
            f"{held[-1]['rate']:,.0f} revocations/s (p99 {held[-1]['every_follower_p99_ms']:,.0f}"
            f" ms to every sampled follower)"
            if held
            else "none of those tried"
        ),
        f_src,
    )
    add(
        f"server CPU per revocation at {feed['target_rate']:,.0f}/s "
        f"(fit over {', '.join(map(str, at['fitted']))} followers)",
        f"{at['per_event_us']:.1f} µs + {at['per_follower_us']:.1f} µs per follower",
        f_src,
    )
    add(
        f"followers kept up at {feed['target_rate']:,.0f}/s, measured",
        f"{at['kept_up']} (server got {at['server_core_share']:.0%} of its core)",
        f_src,
    )
    add(
        f"followers per process at 5,000 revocations/s ({PLAN['feed_core_target']:.0%} of a core)",
        f"{per_process:,}",
        "model",
    )
    add(
        "feed-serving (relay) processes (= cores) for 1,000 verifiers",
        str(relays) if relays else "none suffices: one follower takes more than the target",
        "model",
    )
    add(
        f"propagation p50 / p99 at {feed['target_rate']:,.0f}/s, {at['near']} follower(s)",
        f"{at['near_p50_ms']:,.0f} / {at['near_p99_ms']:,.0f} ms",
        f_src,
    )

    limits = {
        "Redis CPU": by_cpu,
        "Redis memory": by_memory,
    }
    binding = max(limits, key=limits.__getitem__)
    slot_note = (
        f"Revocations: the one revocation slot needs {feed_slot:.2f} cores of one "
        f"single-threaded shard at {REVOCATIONS:,}/s, so it binds before anything else "
        f"(it caps at {feed_cap:,.0f} revocations/s): the feed must be sharded, or a "
        "revocation made cheaper, to reach the target."
        if feed_slot > 1
        else f"Revocations: the one revocation slot uses {feed_slot:.2f} of one shard's core."
    )
    tiers = {"auth": auth, "feed relay": relays or RESOURCE_SERVERS}
    largest = max(tiers, key=tiers.__getitem__)
    other = min(tiers, key=tiers.__getitem__)
    notes = [
        slot_note,
        f"Store: {binding} binds first ({limits[binding]} shards, against "
        f"{min(limits.values())} for the other).",
        f"Fleet: the {largest} tier is the largest ({tiers[largest]} cores of jwtwarden, "
        f"against {tiers[other]} for the {other} tier and {cpu_load:.1f} cores of Redis): "
        "the Python worker, not the store, is the first limit.",
        f"Feed: at 5,000 revocations/s one process can hold {per_process:,} followers "
        f"within {PLAN['feed_core_target']:.0%} of a core "
        f"({at['per_follower_us']:.0f} µs of server CPU per event per follower, measured "
        "at that rate, after the process's own reading of each event); "
        + (
            "one process covers the 1,000 verifiers."
            if relays == 1
            else f"{relays} feed-serving jwtwarden processes (each reading the store's "
            "feed once) cover them: that is the relay tier."
            if relays
            else "no process can serve even one follower within the target."
        ),
    ]
    return rows, notes


def main() -> None:
    rows, notes = model()
    meta = {n: load(n) for n in ("scale_redis.json", "scale_postgres.json", "scale_followers.json")}
    print(
        f"Capacity model: {SESSIONS:,} live sessions, {REFRESHES:,} refreshes/s, "
        f"{REVOCATIONS:,} revocations/s, {RESOURCE_SERVERS:,} resource-server processes\n"
    )
    print("| quantity | value | source |\n| --- | ---: | --- |")
    for row in rows:
        print(f"| {row.what} | {row.value} | {row.source} |")
    print()
    for note in notes:
        print(f"- {note}")
    print("\nPlan (choices, not measurements): " + json.dumps(PLAN))
    for name, data in meta.items():
        print(f"{name}: {data['date']}, {data['machine']}; {data['note']}")


if __name__ == "__main__":
    main()
