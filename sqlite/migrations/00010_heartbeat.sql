-- The heartbeat: one row that the readiness check rewrites (see
-- Heartbeat in sqlite.go), so that /readyz proves the store can still
-- write, not only that it answers. The padding gives the write a fixed
-- size of a few pages, larger than a typical management change, so a disk
-- too full for real writes fails this one too.

-- +goose Up
CREATE TABLE heartbeat (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    beat_at INTEGER NOT NULL,
    padding BLOB    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE heartbeat;
