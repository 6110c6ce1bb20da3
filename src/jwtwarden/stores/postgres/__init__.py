"""The PostgreSQL store: the scale-out SQL backend, on psycopg 3 and a pool.

``store`` holds the operations, ``queries`` the named SQL, ``migrations``
the schema versions (``migrations/*.sql``), ``feed`` the revocation feed and
``connection`` the pools. Why it is built this way (one-statement rotation,
commit-ordered feed positions, schema checks, failure handling):
docs/stores.md.
"""

from __future__ import annotations

from .migrations import SCHEMA_VERSION
from .migrations import _migrations as _migrations  # for the tests
from .queries import (
    FEED_CHANNEL,
    FEED_LOCK,
    FIND_USER,
    GET_SESSION,
    LOGIN_FAILURES,
    PURGES,
    REVOCATION_CHANGES,
    REVOCATION_FACTS,
    ROTATE,
    ROTATE_IF_LIVE,
)
from .store import PostgresStore

_FEED_LOCK = FEED_LOCK  # for the tests, by its old name

__all__ = [
    "FEED_CHANNEL",
    "FIND_USER",
    "GET_SESSION",
    "LOGIN_FAILURES",
    "PURGES",
    "REVOCATION_CHANGES",
    "REVOCATION_FACTS",
    "ROTATE",
    "ROTATE_IF_LIVE",
    "SCHEMA_VERSION",
    "PostgresStore",
]
