"""PostgreSQL rows, bytes and index size per session at 1,000,000 sessions
(issue 13, part 3). Run: ``python bench/scale_postgres.py [SESSIONS]``
(default 1,000,000; about a minute). Loopback server
``JWTWARDEN_TEST_POSTGRES``, in a schema of its own, dropped after.

SEED sessions are made through the store's own ``create_session`` (and
rotated once through the service, so ``rotated_at`` and the generation are
filled as in real use); SQL then copies them to SESSIONS rows with fresh
22-character sids, the width of a real one. Copying in SQL rather than a
million store calls (about 1,000/s here) keeps every column's real width and
every index the migrations make; ``VACUUM ANALYZE`` runs before the sizes are
read with ``pg_table_size``, ``pg_indexes_size`` and
``pg_total_relation_size``.

Writes ``bench/results/scale_postgres.json`` for ``bench/capacity.py``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
from scale_redis import machine

from stores import POSTGRES, rotate_chain, service

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "correct horse battery"
SEED = 1000
TABLES = ("users", "sessions", "denylist", "login_failures", "clients", "revocation_events")


async def seed(url: str, tmp: Path) -> None:
    svc = service(url, tmp / "pg.keys")
    await svc.start()
    await svc.create_user("alice", PASSWORD)
    for _ in range(SEED):
        await rotate_chain(svc, 1)
    await svc.close()


def copy_to(conn: psycopg.Connection[tuple[object, ...]], schema: str, n: int) -> None:
    columns = [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'sessions' AND column_name <> 'sid' "
            "ORDER BY ordinal_position",
            (schema,),
        )
    ]
    listed = ", ".join(columns)
    copies = n // SEED - 1
    conn.execute(
        f"INSERT INTO sessions (sid, {listed}) "  # noqa: S608 - names from the catalogue
        f"SELECT substr(md5(random()::text || g::text || s.sid), 1, 22), {listed} "
        "FROM sessions s, generate_series(1, %s) g",
        (copies,),
    )


def sizes(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, float]:
    conn.execute("VACUUM ANALYZE")
    sessions = int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])  # type: ignore[index]
    rows = 0
    for table in TABLES:
        found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if found and found[0]:
            rows += int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]  # noqa: S608
    table, indexes, total = conn.execute(
        "SELECT pg_table_size('sessions'), pg_indexes_size('sessions'), "
        "pg_total_relation_size('sessions')"
    ).fetchone()  # type: ignore[misc]
    return {
        "sessions": sessions,
        "rows_per_session": (rows - 1) / sessions,  # the one user is not per session
        "table_bytes_per_session": table / sessions,
        "index_bytes_per_session": indexes / sessions,
        "total_bytes_per_session": total / sessions,
        "total_bytes": total,
    }


async def main(n: int) -> None:
    schema = f"jwt_scale_{secrets.token_hex(4)}"
    url = f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                await seed(url, Path(tmp))
            with psycopg.connect(url, autocommit=True) as conn:
                copy_to(conn, schema, n)
                measured = sizes(conn)
        finally:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    results = {
        "benchmark": "bench/scale_postgres.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "note": f"{SEED:,} sessions made through the store, copied in SQL with fresh sids",
        "postgres": measured,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_postgres.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
