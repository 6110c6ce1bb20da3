-- jwtwarden SQLite schema (PRAGMA user_version: sqlite.py, SCHEMA_VERSION).
-- Every statement is IF NOT EXISTS; columns added later are also listed in
-- sqlite.py's _ADDED_COLUMNS, which adds them to older files.
-- Times are REAL epoch seconds; the same doubles the tokens carry.
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    sub           TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,          -- JSON array
    created_at    REAL NOT NULL,
    cutoff_at     REAL,
    keep_sid      TEXT,
    banned_until  REAL
);
-- One row per session, whatever the number of rotations.
CREATE TABLE IF NOT EXISTS sessions (
    sid           TEXT PRIMARY KEY,
    sub           TEXT NOT NULL,
    generation    INTEGER NOT NULL,
    salt          BLOB NOT NULL,
    auth_time     REAL NOT NULL,
    expires_at    REAL NOT NULL,
    last_used_at  REAL NOT NULL,
    rotated_at    REAL,
    revoked_at    REAL,
    revoke_reason TEXT,
    ip            TEXT,
    user_agent    TEXT,
    client_id     TEXT NOT NULL,
    claims        TEXT,                   -- schema 3: custom claims, JSON
    jkt           TEXT                    -- schema 5: DPoP key thumbprint
);
CREATE INDEX IF NOT EXISTS sessions_by_sub ON sessions (sub);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_by_last_use ON sessions (last_used_at);
CREATE INDEX IF NOT EXISTS sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS users_by_cutoff ON users (cutoff_at) WHERE cutoff_at IS NOT NULL;
-- Single revoked access tokens, kept only until the token would expire.
CREATE TABLE IF NOT EXISTS denylist (
    jti       TEXT PRIMARY KEY,
    forget_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS denylist_by_expiry ON denylist (forget_at);
-- Failed logins, hashed keys (see core/throttle.py), kept for one window.
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT NOT NULL,
    at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures (key, at);
CREATE INDEX IF NOT EXISTS login_failures_by_time ON login_failures (at);
-- Resource servers allowed to introspect tokens; secrets kept as SHA-256.
CREATE TABLE IF NOT EXISTS clients (
    client_id       TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    secret_hash     TEXT NOT NULL,
    created_at      REAL NOT NULL,
    -- schema 4: a backend that starts sessions (JWT-bearer grant)
    issues_sessions INTEGER NOT NULL DEFAULT 0,
    session_roles   TEXT NOT NULL DEFAULT '[]',   -- JSON array
    jwks            TEXT,                         -- public JWK Set; NULL: HS256
    require_dpop    INTEGER NOT NULL DEFAULT 0    -- schema 5: DPoP required
);
-- Single-use ids (schema 4): a JWT-bearer assertion's jti, kept until it
-- expires (remember_once; purged by purge_expired).
CREATE TABLE IF NOT EXISTS seen_once (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    until     REAL NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_once_by_time ON seen_once (until);
-- The revocation feed (schema 2): one row per revocation, in commit order
-- (SQLite has one writer; AUTOINCREMENT never reuses a position). Trimmed
-- once an event can no longer matter.
CREATE TABLE IF NOT EXISTS revocation_events (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,          -- jti | sid | user | store
    key          TEXT NOT NULL,
    at           REAL NOT NULL,          -- revoked_at / cutoff_at / forget_at (jti)
    forget_at    REAL,                   -- jti only; others: at + horizon
    cutoff_at    REAL,
    keep_sid     TEXT,
    banned_until REAL
);
CREATE INDEX IF NOT EXISTS revocation_events_by_time ON revocation_events (at);
