-- The audit log, the PostgreSQL twin of sqlite/migrations/00003_audit.sql:
-- one row per management action, written in the transaction of the change
-- it describes (see audit.go), never updated or deleted.
--
-- seq comes from an identity sequence: it only grows, and a value is never
-- handed out twice, so a Seq always names the same entry and serves as a
-- paging cursor. (Sequence values are taken when a row is inserted, not when
-- it commits, so two entries committed at the same moment may appear in the
-- opposite order of their commits; the log is read a page at a time, newest
-- first, where that does not matter.)
--
-- tenant_id has no foreign key: the log must accept what happened, including
-- a refused request, and an entry that could not be written would take its
-- change down with it. Empty strings are stored as they are (never NULL).
--
-- No trigger announces audit entries on the change feed: no replica caches
-- them.

-- +goose Up
CREATE TABLE audit (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time      TIMESTAMPTZ      NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    actor_id  TEXT             NOT NULL,
    source_ip TEXT             NOT NULL,
    action    TEXT             NOT NULL,
    target    TEXT COLLATE "C" NOT NULL,
    outcome   TEXT             NOT NULL
);

-- Serve ListAudit: one tenant's entries newest first, optionally about one
-- target, seeking below a cursor.
CREATE INDEX audit_tenant_seq ON audit (tenant_id, seq DESC);
CREATE INDEX audit_tenant_target_seq ON audit (tenant_id, target, seq DESC);

-- +goose Down
DROP TABLE audit;
