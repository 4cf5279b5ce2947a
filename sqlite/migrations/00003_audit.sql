-- The audit log: one row per management action. Rows are written in the
-- transaction of the change they describe (see audit.go), so the log cannot
-- claim a change that did not happen nor miss one that did. Nothing updates
-- or deletes them.
--
-- seq is AUTOINCREMENT, not a plain rowid alias: SQLite may hand a plain
-- rowid out again once the highest row is gone, while AUTOINCREMENT never
-- does, so a Seq, which callers use as a paging cursor, always names the
-- same entry and always grows.
--
-- tenant_id has no foreign key: the log must accept what happened, including
-- a refused request, and an entry that could not be written would take its
-- change down with it. Empty strings are stored as they are (never NULL), so
-- every field reads back exactly as written.

-- +goose Up
CREATE TABLE audit (
    seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    time      INTEGER NOT NULL,
    tenant_id TEXT    NOT NULL,
    actor_id  TEXT    NOT NULL,
    source_ip TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL
) STRICT;

-- Serve ListAudit: one tenant's entries newest first, optionally about one
-- target, seeking below a cursor.
CREATE INDEX audit_tenant_seq ON audit (tenant_id, seq DESC);
CREATE INDEX audit_tenant_target_seq ON audit (tenant_id, target, seq DESC);

-- +goose Down
DROP TABLE audit;
