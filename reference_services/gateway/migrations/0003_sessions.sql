-- Refresh tokens, one row each. A login starts a session (a family of refresh tokens); each
-- refresh token works once and is replaced by the next (rotation); a refresh token used a
-- second time means it was copied, so its whole family is revoked (RFC 9700 §4.14.2); logout
-- revokes the family. Access tokens stay stateless and short-lived (access_token_ttl_s).
CREATE TABLE refresh_tokens (
    jti         uuid PRIMARY KEY,
    family      uuid NOT NULL,
    username    text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
-- The prune deletes expired rows by this index.
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
