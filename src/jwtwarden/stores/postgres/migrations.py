"""Schema versions of the PostgreSQL store: the ``migrations/NNNN_*.sql``
files, applied in order under an advisory lock and recorded in
``jwtwarden_schema``. A fresh schema may be created on first use; any other
version than :data:`SCHEMA_VERSION` is refused (docs/stores.md)."""

from __future__ import annotations

import re
from importlib import resources

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from ...errors import ConfigurationError

__all__ = ["SCHEMA_VERSION", "apply_migrations", "check_schema", "schema_version"]

_MIGRATION = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
#: Advisory-lock class of the migrators (7263 is the feed's).
_MIGRATION_LOCK = 7262
_Conn = AsyncConnection[TupleRow]


def _migrations() -> list[tuple[int, str]]:
    """``(version, sql)`` of every migration shipped in ``migrations/``."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _MIGRATION.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text()))
    return sorted(found)


#: The schema version this code reads and writes.
SCHEMA_VERSION = max(version for version, _ in _migrations())


async def schema_version(conn: _Conn) -> int | None:
    """The version in place; ``None`` for a fresh schema (no ``jwtwarden_schema``)."""
    cur = await conn.execute("SELECT to_regclass('jwtwarden_schema') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return None
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM jwtwarden_schema")
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def apply_migrations(conn: _Conn) -> int:
    """Apply every pending migration, each in its own transaction; return the
    version now in place. ConfigurationError if the schema is newer."""
    version = 0
    for number, sql in _migrations():
        async with conn.transaction():
            # Serialise migrators of this schema; the version is read under the lock.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                (_MIGRATION_LOCK,),
            )
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS jwtwarden_schema (version integer PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            version = await schema_version(conn) or 0
            if version > SCHEMA_VERSION:
                raise ConfigurationError(_version_message(version))
            if number <= version:
                continue
            await conn.execute(sql.encode())
            await conn.execute("INSERT INTO jwtwarden_schema (version) VALUES (%s)", (number,))
            version = number
    return version


async def check_schema(conn: _Conn, *, auto_migrate: bool) -> None:
    """Refuse a schema at another version than this code's; migrate a fresh
    one when ``auto_migrate``. Raises ConfigurationError."""
    version = await schema_version(conn)
    if version is None and auto_migrate:
        version = await apply_migrations(conn)
    if version != SCHEMA_VERSION:
        raise ConfigurationError(_version_message(version))


def _version_message(version: int | None) -> str:
    if version is not None and version > SCHEMA_VERSION:
        return (
            f"the PostgreSQL schema is at version {version}, newer than this jwtwarden "
            f"knows ({SCHEMA_VERSION}): upgrade jwtwarden (the newer release's "
            "`jwtwarden migrate` made it)"
        )
    return (
        f"the PostgreSQL schema is at version {version or 0}; this jwtwarden needs "
        f"{SCHEMA_VERSION}: run `jwtwarden migrate` (after a backup)"
    )
