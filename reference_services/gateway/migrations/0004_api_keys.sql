-- API keys (apikeys.py): shown once, stored only as an HMAC-SHA256 of the secret under the
-- gateway's pepper; found by their public prefix. A key acts for its owner with at most the
-- owner's roles, optionally only on some routes; a rotation gives the old key an expiry (the
-- overlap) instead of revoking it at once.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    prefix        text NOT NULL UNIQUE,
    secret_hash   text NOT NULL,
    owner         text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    name          text NOT NULL,
    roles         text[] NOT NULL,
    routes        text[],
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    replaced_by   uuid REFERENCES api_keys (id),
    CONSTRAINT api_keys_roles_known CHECK (roles <@ ARRAY['admin', 'user', 'viewer']::text[])
);
CREATE INDEX api_keys_owner ON api_keys (owner, created_at DESC);
