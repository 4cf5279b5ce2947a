-- Tokens issued per client and clock hour, for the console's chart of the
-- last day (see usage.go). Replicas count in memory and add their counts
-- here in batches, so issuing a token never writes.
--
-- hour is the start of the UTC hour in Unix microseconds, like every time
-- of this schema. Deleting a client deletes its counts (ON DELETE CASCADE;
-- the store opens every connection with foreign keys on). Rows older than
-- the chart needs are purged by AddTokenUsage, a bounded number at a time;
-- the index on hour serves that purge.

-- +goose Up
CREATE TABLE token_usage (
    client_id TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    hour      INTEGER NOT NULL,
    count     INTEGER NOT NULL CHECK (count > 0),
    PRIMARY KEY (client_id, hour)
) STRICT;

CREATE INDEX token_usage_hour ON token_usage (hour);

-- +goose Down
DROP TABLE token_usage;
