"""The named SQL of the PostgreSQL store: the hot queries (named so that the
``EXPLAIN`` test checks the very SQL used), the feed statements and the
purges. Parameters are psycopg's ``%(name)s``; the statements shared with
SQLite come from ``stores/_sql.py``."""

from __future__ import annotations

from .. import _sql
from .._rows import SESSION_AND_USER_COLUMNS, SESSION_COLUMNS, SESSION_WIDTH, USER_COLUMNS
from .._sql import PSYCOPG

#: Advisory-lock class of the feed's position order (7262 is the migrators').
FEED_LOCK = 7263
#: NOTIFY channel of new feed events; the payload is the schema written.
FEED_CHANNEL = "jwtwarden_revocations"

NEW_USER = PSYCOPG.sql(_sql.NEW_USER)
GET_USER = f"SELECT {USER_COLUMNS} FROM users WHERE sub = %s"
FIND_USER = f"SELECT {USER_COLUMNS} FROM users WHERE username_key = %(key)s"
LIST_USERS = f"SELECT {USER_COLUMNS} FROM users ORDER BY created_at, seq"
NEW_SESSION = f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({PSYCOPG.values(SESSION_WIDTH)})"
GET_SESSION = (
    f"SELECT {SESSION_AND_USER_COLUMNS} "
    "FROM sessions s JOIN users u ON u.sub = s.sub WHERE s.sid = %(sid)s"
)
LIST_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE sub = %s ORDER BY auth_time, sid"
ROTATE = PSYCOPG.sql(_sql.ROTATE)
# The happy path of a refresh; mirrors jwtwarden.core.rotation.rotates_now.
# The compare-and-swap of ROTATE guarded by every condition under which
# decide_rotation rotates the current generation, joined to the user, in one
# statement (the sessions and users primary keys). Each condition is written
# as the negation of core's test on the very same float8 expressions
# (``now - last_used_at`` is not rearranged), so the boundaries fall exactly
# where Python puts them. A user with no cutoff, or a keep_sid NULL, leaves
# ``s.sid = u.keep_sid`` NULL, which spares nothing. The session's conditions
# are one ``(…) IS TRUE``, which no index can serve and which proves no
# partial index's predicate: otherwise statistics where most sessions are
# expired (a purge behind) make the planner walk sessions_by_expiry instead
# of looking the sid up in sessions_pkey.
ROTATE_IF_LIVE = (
    "UPDATE sessions s SET generation = s.generation + 1, rotated_at = %(now)s, "
    "last_used_at = %(now)s FROM users u "
    "WHERE s.sid = %(sid)s AND u.sub = s.sub "
    "AND (s.generation = %(gen)s AND s.revoked_at IS NULL AND %(now)s < s.expires_at "
    "AND %(now)s - s.last_used_at < %(idle)s) IS TRUE "
    "AND (u.banned_until IS NULL OR NOT %(now)s < u.banned_until) "
    "AND (u.cutoff_at IS NULL OR NOT s.auth_time < u.cutoff_at OR s.sid = u.keep_sid) "
    f"RETURNING {SESSION_AND_USER_COLUMNS}"
)
REVOKE_SESSION = PSYCOPG.sql(_sql.REVOKE_SESSION)
DENY_JTI = (
    "INSERT INTO denylist (jti, forget_at) VALUES (%s, %s) ON CONFLICT (jti) "
    "DO UPDATE SET forget_at = greatest(denylist.forget_at, excluded.forget_at) "
    "RETURNING forget_at"
)
REVOCATION_FACTS = (
    "SELECT EXISTS (SELECT 1 FROM denylist WHERE jti = %(jti)s AND forget_at > %(now)s), "
    "EXISTS (SELECT 1 FROM sessions WHERE sid = %(sid)s AND revoked_at IS NOT NULL), "
    "u.cutoff_at, u.keep_sid, u.banned_until "
    "FROM (SELECT 1) AS one LEFT JOIN users u ON u.sub = %(sub)s"
)
LOGIN_FAILURES = (
    "SELECT count(f.at), min(f.at) "
    "FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS k(key, i) "
    "LEFT JOIN login_failures f ON f.key = k.key AND f.at > %(since)s "
    "GROUP BY k.i ORDER BY k.i"
)
# One statement: the window slides and the failure counts together.
RECORD_LOGIN_FAILURE = (
    "WITH gone AS (DELETE FROM login_failures "
    "WHERE key = ANY(%(keys)s::text[]) AND at <= %(since)s) "
    "INSERT INTO login_failures (key, at) SELECT unnest(%(keys)s::text[]), %(now)s"
)

# The feed. One statement, so one snapshot of the three tables and the feed
# position even in READ COMMITTED; the horizon filters mirror
# jwtwarden.core.view.event_forget_at.
SNAPSHOT = (
    "SELECT 'p', coalesce(max(position), 0)::text, NULL::float8, NULL::text, NULL::float8 "
    "FROM revocation_events "
    "UNION ALL SELECT 'd', jti, forget_at, NULL, NULL FROM denylist WHERE forget_at > %(now)s "
    "UNION ALL SELECT 's', sid, revoked_at, NULL, NULL FROM sessions "
    "WHERE revoked_at IS NOT NULL AND revoked_at > %(now)s - %(h)s "
    "UNION ALL SELECT 'u', sub, cutoff_at, keep_sid, banned_until FROM users "
    "WHERE cutoff_at IS NOT NULL AND cutoff_at > %(now)s - %(h)s"
)
FEED_LOCK_TAKE = "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))"
APPEND_EVENT = (
    "INSERT INTO revocation_events (position, kind, key, at, forget_at, keep_sid, banned_until) "
    "VALUES (nextval('revocation_events_position'), %s, %s, %s, %s, %s, %s)"
)
NOTIFY = "SELECT pg_notify(%s, current_schema())"
FEED_HEAD = "SELECT current_schema(), coalesce(max(position), 0) FROM revocation_events"
REVOCATION_CHANGES = (
    "SELECT position, kind, key, at, forget_at, keep_sid, banned_until FROM revocation_events "
    f"WHERE position > %(after)s AND {PSYCOPG.sql(_sql.EVENT_FORGET_AT)} > %(now)s "
    "ORDER BY position LIMIT %(n)s"
)

# Each purge statement deletes one bounded batch, its own short transaction;
# SKIP LOCKED lets several processes purge at once without waiting on each
# other. The session ones mirror jwtwarden.core.sessions.is_purgeable, one
# statement per reason so that each walks its own index. Users are never
# deleted, so its "user gone" case does not arise.
PURGES = (
    "DELETE FROM denylist WHERE jti IN (SELECT jti FROM denylist "
    "WHERE forget_at <= %(now)s LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    "DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions "
    "WHERE revoked_at IS NOT NULL AND revoked_at <= %(now)s - %(h)s "
    "LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    "DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions "
    "WHERE revoked_at IS NULL AND expires_at <= %(now)s LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    "DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions "
    "WHERE revoked_at IS NULL AND last_used_at <= %(now)s - %(idle)s "
    "LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    # A cutoff older than the session lifetime covers only sessions that have
    # expired anyway (the statement above takes them), so old cutoffs are skipped.
    "DELETE FROM sessions WHERE sid IN (SELECT s.sid FROM users u "
    "JOIN sessions s ON s.sub = u.sub WHERE u.cutoff_at IS NOT NULL "
    "AND u.cutoff_at > %(now)s - %(ttl)s AND s.revoked_at IS NULL "
    "AND s.auth_time < u.cutoff_at AND s.sid IS DISTINCT FROM u.keep_sid "
    "LIMIT %(n)s FOR UPDATE OF s SKIP LOCKED)",
    "DELETE FROM seen_once WHERE (namespace, key) IN (SELECT namespace, key FROM seen_once "
    "WHERE until <= %(now)s LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    "DELETE FROM login_failures WHERE id IN (SELECT id FROM login_failures "
    "WHERE at <= %(now)s - %(window)s LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
    # Mirrors jwtwarden.core.view.event_forget_at. A jti event's "at" is its
    # forget_at; every other event dies one horizon after its "at", so
    # "at <= now" bounds the index scan for both.
    "DELETE FROM revocation_events WHERE position IN (SELECT position FROM revocation_events "
    "WHERE at <= %(now)s AND (kind = 'jti' OR at <= %(now)s - %(h)s) "
    "LIMIT %(n)s FOR UPDATE SKIP LOCKED)",
)
