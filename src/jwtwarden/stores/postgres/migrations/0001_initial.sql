-- jwtwarden PostgreSQL schema, migration 1.
-- Times are double precision epoch seconds: the same doubles the tokens carry,
-- so a cutoff and a token's auth_time compare exactly.
CREATE TABLE meta (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE users (
    sub           text PRIMARY KEY,
    username      text NOT NULL,
    username_key  text NOT NULL UNIQUE,      -- find_user: one index lookup
    password_hash text NOT NULL,
    roles         text[] NOT NULL,
    created_at    double precision NOT NULL,
    seq           bigint GENERATED ALWAYS AS IDENTITY,  -- creation order for ties
    cutoff_at     double precision,
    keep_sid      text,
    banned_until  double precision
);
CREATE INDEX users_by_cutoff ON users (cutoff_at) WHERE cutoff_at IS NOT NULL;
-- One row per session, whatever the number of rotations.
CREATE TABLE sessions (
    sid           text PRIMARY KEY,          -- get_session, rotate, revocation_facts
    sub           text NOT NULL,
    generation    bigint NOT NULL,
    salt          bytea NOT NULL,
    auth_time     double precision NOT NULL,
    expires_at    double precision NOT NULL,
    last_used_at  double precision NOT NULL,
    rotated_at    double precision,
    revoked_at    double precision,
    revoke_reason text,
    ip            text,
    user_agent    text,
    client_id     text NOT NULL
);
CREATE INDEX sessions_by_sub ON sessions (sub, auth_time);
-- Purge walks these; the partial ones stay small.
CREATE INDEX sessions_by_expiry ON sessions (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_by_last_use ON sessions (last_used_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
-- Single revoked access tokens, kept only until the token would expire.
CREATE TABLE denylist (
    jti       text PRIMARY KEY,
    forget_at double precision NOT NULL
);
CREATE INDEX denylist_by_expiry ON denylist (forget_at);
-- Failed logins under hashed keys (core/throttle.py), kept for one window.
CREATE TABLE login_failures (
    id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL,
    at  double precision NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (key, at);
CREATE INDEX login_failures_by_time ON login_failures (at);
-- Resource servers allowed to introspect tokens; secrets kept as SHA-256.
CREATE TABLE clients (
    client_id   text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    secret_hash text NOT NULL,
    created_at  double precision NOT NULL
);
