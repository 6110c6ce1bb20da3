-- jwtwarden SQLite schema, version 1 (PRAGMA user_version).
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
    client_id     TEXT NOT NULL
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
