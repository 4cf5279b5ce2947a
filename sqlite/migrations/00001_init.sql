-- Times are INTEGER microseconds since the Unix epoch (UTC): integers sort and
-- compare correctly in SQL, which RecordAccess relies on, and microseconds are
-- what PostgreSQL keeps too, so both backends agree on precision. NULL means
-- "never" for the optional times.
--
-- The tables are STRICT so that a driver or code change that binds the wrong
-- Go type fails loudly instead of storing, say, a BLOB where TEXT JSON is
-- expected.

-- +goose Up
CREATE TABLE tenants (
    id         TEXT    NOT NULL PRIMARY KEY,
    parent_id  TEXT    REFERENCES tenants (id),
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
    id                  TEXT    NOT NULL PRIMARY KEY,
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id),
    auth_method         TEXT    NOT NULL,
    role                TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    -- Kept as the exact text the caller gave (not re-encoded), so numbers and
    -- key order survive.
    data                TEXT,
    secret_hash         BLOB,
    generation          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    created_by          TEXT    NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_access_at      INTEGER,
    last_access_from_ip TEXT
) STRICT;

-- Serves ListClients: one tenant's clients in id order, seeking past a cursor.
CREATE INDEX clients_tenant_id_id ON clients (tenant_id, id);

-- A deleted client's id is never handed out again: tokens and audit records
-- that name it must not start to mean a different client.
CREATE TABLE client_tombstones (
    id         TEXT    NOT NULL PRIMARY KEY,
    deleted_at INTEGER NOT NULL
) STRICT;

-- The trigger, not only the Go code, enforces the rule so that no write path
-- (a future bulk import, a hand-run SQL fix) can resurrect an id.
-- +goose StatementBegin
CREATE TRIGGER clients_id_never_reused
BEFORE INSERT ON clients
WHEN EXISTS (SELECT 1 FROM client_tombstones WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'client id was deleted and cannot be reused');
END;
-- +goose StatementEnd

CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    active_at   INTEGER NOT NULL,
    retire_at   INTEGER
) STRICT;

-- +goose Down
DROP TABLE signing_keys;
DROP TRIGGER clients_id_never_reused;
DROP TABLE client_tombstones;
DROP TABLE clients;
DROP TABLE tenants;
