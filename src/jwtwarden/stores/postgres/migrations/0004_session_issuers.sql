-- jwtwarden PostgreSQL schema, migration 4: clients that start sessions
-- (the JWT-bearer grant, RFC 7523) and the single-use ids that grant keeps.
-- Additive: existing clients stay resource servers only.
ALTER TABLE clients
    ADD COLUMN issues_sessions boolean NOT NULL DEFAULT false,
    ADD COLUMN session_roles   text[] NOT NULL DEFAULT '{}',
    ADD COLUMN jwks            text;                 -- public JWK Set; NULL: HS256
-- One row per id seen (an assertion's jti), kept until it expires
-- (Store.remember_once); purge_expired deletes the rest.
CREATE TABLE seen_once (
    namespace text NOT NULL,
    key       text NOT NULL,
    until     double precision NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX seen_once_by_time ON seen_once (until);
