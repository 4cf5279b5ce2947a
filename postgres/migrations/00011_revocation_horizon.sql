-- The revocation horizon: a time the service is sure has passed, which it
-- raises only by time it measured passing (see service/revocation.go), so
-- that a wall clock stepped forward cannot purge revocations of tokens
-- still valid once the clock is corrected. One row, shared by every
-- replica; it only grows.

-- +goose Up
CREATE TABLE revocation_horizon (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    horizon TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE revocation_horizon;
