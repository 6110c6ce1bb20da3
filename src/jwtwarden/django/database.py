"""jwtwarden's tables in the project's own database.

jwtwarden does not go through Django's ORM: its stores need one-statement
compare-and-swap rotations, a revocation feed and their own connection
handling, and a second implementation of them would be a second home for
every rule. So the app runs jwtwarden's own SQL store, the one the contract
suite proves, on the database Django's ``default`` alias names:

- SQLite: the same file (jwtwarden's tables are those of
  ``stores/sqlite_schema.sql``: ``users``, ``sessions``, ``denylist``, …;
  ``migrate`` refuses a file where a project table already has one of those
  names). The store turns on WAL journaling, which
  Django works with too. An in-memory database cannot be shared with another
  connection, so it is refused.
- PostgreSQL: the same database, in a schema of its own (``JWTWARDEN
  ["SCHEMA"]``, default ``jwtwarden``), so no name can clash.

The store opens its own connections (a pool on PostgreSQL), with the
credentials and options of the Django database; nothing else is configured.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from django.db import connections

from ..errors import ConfigurationError

__all__ = ["DATABASE_ALIAS", "create_tables", "is_postgres", "sqlite_tables", "store_url"]

#: The Django database jwtwarden lives in.
DATABASE_ALIAS = "default"
#: libpq options of a Django database passed on to jwtwarden's connections.
_LIBPQ_OPTIONS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "passfile",
    "service",
    "target_session_attrs",
    "connect_timeout",
)


def is_postgres(alias: str = DATABASE_ALIAS) -> bool:
    return connections[alias].vendor == "postgresql"


def store_url(alias: str, schema: str) -> str:
    """The jwtwarden store URL of the Django database ``alias`` (its current
    settings, so a test database is followed). Raises ConfigurationError for
    a database jwtwarden cannot share."""
    connection = connections[alias]
    params: dict[str, Any] = connection.settings_dict
    if connection.vendor == "sqlite":
        return _sqlite_url(str(params["NAME"]))
    if connection.vendor == "postgresql":
        return _postgres_url(params, schema)
    raise ConfigurationError(
        f"jwtwarden.django runs on SQLite or PostgreSQL, not {connection.vendor}: "
        'set JWTWARDEN["STORE"] to a store URL (redis://…, postgresql://…).'
    )


def _sqlite_url(name: str) -> str:
    if name in ("", ":memory:") or "mode=memory" in name:
        raise ConfigurationError(
            "jwtwarden's connections cannot share an in-memory SQLite database: use a "
            'file (tests: DATABASES["default"]["TEST"]["NAME"] = a path).'
        )
    return f"sqlite:///{name}"


def _postgres_url(params: dict[str, Any], schema: str) -> str:
    query: dict[str, str] = {}
    for key, value in (
        ("host", params.get("HOST")),
        ("port", params.get("PORT")),
        ("user", params.get("USER")),
        ("password", params.get("PASSWORD")),
    ):
        if value:
            query[key] = str(value)
    options = params.get("OPTIONS") or {}
    query.update({k: str(options[k]) for k in _LIBPQ_OPTIONS if options.get(k)})
    query["options"] = f"-csearch_path={schema}"
    return f"postgresql:///{quote(str(params['NAME']), safe='')}?{urlencode(query)}"


def sqlite_tables() -> tuple[str, ...]:
    """The tables the SQLite store creates, read from its schema file."""
    import re
    from importlib import resources

    schema = resources.files("jwtwarden.stores").joinpath("sqlite_schema.sql").read_text()
    return tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", schema))


def create_tables(alias: str, url: str, schema: str) -> None:
    """Create or upgrade jwtwarden's tables in the Django database ``alias``
    (the app's migration runs this). Raises ConfigurationError when a project
    table has one of jwtwarden's names (SQLite)."""
    import asyncio

    from ..stores import open_store

    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA user_version")
            if cursor.fetchone()[0] == 0:
                existing = set(connection.introspection.table_names(cursor))
                clash = sorted(existing.intersection(sqlite_tables()))
                if clash:
                    raise ConfigurationError(
                        f"the database already has tables named {', '.join(clash)}, which "
                        'jwtwarden needs: set JWTWARDEN["STORE"] to another store URL.'
                    )

    async def migrate() -> None:
        store = open_store(url)
        try:
            migrate_store = getattr(store, "migrate", None)
            if migrate_store is not None:
                await migrate_store()
            else:
                await store.ping()  # SQLite creates its schema on open
        finally:
            await store.close()

    asyncio.run(migrate())
