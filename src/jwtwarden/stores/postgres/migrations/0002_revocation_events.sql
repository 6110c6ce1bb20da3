-- jwtwarden PostgreSQL schema, migration 2: the revocation feed.
-- One row per revocation, written in the same transaction as the revocation.
-- Positions come from a sequence, taken under a transaction-scoped advisory
-- lock held until commit (postgres/feed.py, append_event), so rows become visible
-- in position order and a follower resuming after its last position misses
-- nothing. Rows are deleted once they can no longer matter (purge_expired).
CREATE SEQUENCE revocation_events_position AS bigint;
CREATE TABLE revocation_events (
    position     bigint PRIMARY KEY,
    kind         text NOT NULL,              -- jti | sid | user | store
    key          text NOT NULL,              -- the jti, sid or sub; '' for store
    at           double precision NOT NULL,  -- forget_at (jti), revoked_at (sid), cutoff_at
    forget_at    double precision,           -- jti only; the others: at + horizon on read
    keep_sid     text,                       -- user only: the state after the change
    banned_until double precision
);
-- Purge walks this: a jti event dies at its "at", the others one horizon later.
CREATE INDEX revocation_events_by_time ON revocation_events (at);
