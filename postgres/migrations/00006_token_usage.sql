-- The PostgreSQL twin of sqlite/migrations/00006_token_usage.sql: tokens
-- issued per client and clock hour, for the console's chart of the last
-- day (see usage.go). Every replica counts in memory and adds its counts
-- here in batches, so issuing a token never writes, and the chart sums all
-- replicas.
--
-- Deleting a client deletes its counts (ON DELETE CASCADE). The table has
-- no change-feed trigger: nothing a replica caches derives from it. Rows
-- older than the chart needs are purged by AddTokenUsage, a bounded number
-- at a time; the index on hour serves that purge.

-- +goose Up
CREATE TABLE token_usage (
    client_id TEXT COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    hour      TIMESTAMPTZ NOT NULL,
    count     BIGINT      NOT NULL CHECK (count > 0),
    PRIMARY KEY (client_id, hour)
);

CREATE INDEX token_usage_hour ON token_usage (hour);

-- +goose Down
DROP TABLE token_usage;
