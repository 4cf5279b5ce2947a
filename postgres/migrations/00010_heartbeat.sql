-- The PostgreSQL twin of sqlite/migrations/00010_heartbeat.sql: one row
-- that each replica's readiness check rewrites, so that /readyz proves the
-- server still accepts writes (not a full disk, not a standby), not only
-- that it answers. No change-feed trigger: nothing is derived from it.

-- +goose Up
CREATE TABLE heartbeat (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    beat_at TIMESTAMPTZ NOT NULL,
    padding BYTEA       NOT NULL
);
-- Stored as it is: compressed, the zero padding would write nothing.
ALTER TABLE heartbeat ALTER COLUMN padding SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE heartbeat;
