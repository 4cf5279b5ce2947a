-- Failed client authentications, counted per key and fixed window, shared by
-- every replica of the data center (see limiter.go). The SQLite store has no
-- twin of this table: a single SQLite server counts in memory.
--
-- key_hash is the SHA-256 of the limiter key, never the key itself: keys name
-- client ids and source addresses, which have no business in a dump. (A hash
-- of an address can be recovered by trying every address; rows live only
-- two windows, which is what keeps that exposure short.)
--
-- window_start is the start of the fixed window in Unix nanoseconds, aligned
-- as ratelimit.WindowStart aligns it, so that every replica adds to the same
-- row; an integer, unlike timestamptz, holds it exactly whatever the window.
--
-- Rows older than two windows are purged (at most once a window by each
-- replica); the index on window_start serves that purge.

-- +goose Up
CREATE TABLE auth_failures (
    key_hash     BYTEA   NOT NULL,
    window_start BIGINT  NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key_hash, window_start)
);

CREATE INDEX auth_failures_window_start ON auth_failures (window_start);

-- +goose Down
DROP TABLE auth_failures;
