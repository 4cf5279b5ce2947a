-- Revoked access tokens (RFC 7009), kept only until the token would have
-- expired anyway; the expiry index serves both the load of live revocations
-- and their purge.

-- +goose Up
CREATE TABLE revocations (
    jti        TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revocations_expires_at ON revocations (expires_at);

-- +goose Down
DROP TABLE revocations;
