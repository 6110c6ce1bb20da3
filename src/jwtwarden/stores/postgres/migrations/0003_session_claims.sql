-- jwtwarden PostgreSQL schema, migration 3: custom claims per session.
-- The canonical JSON text of core/claims.py, copied into every access token
-- the session mints; NULL for none. Additive: older rows have none.
ALTER TABLE sessions ADD COLUMN claims text;
