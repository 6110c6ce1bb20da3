-- jwtwarden PostgreSQL schema, migration 5: DPoP (RFC 9449).
-- A session bound to a DPoP key keeps the key's RFC 7638 thumbprint; every
-- refresh must be proven with that key. NULL: not bound. A client may
-- require DPoP for its sessions. Additive: older rows are unbound.
ALTER TABLE sessions ADD COLUMN jkt text;
ALTER TABLE clients ADD COLUMN require_dpop boolean NOT NULL DEFAULT false;
