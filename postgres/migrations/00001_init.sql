-- The PostgreSQL twin of sqlite/migrations/00001_init.sql: same tables, same
-- version numbers, same meaning.
--
-- IDs are TEXT COLLATE "C" so that ORDER BY and the > of ListClients'
-- cursor compare bytes, as Go's string comparison (and SQLite's BINARY
-- collation) does, whatever the database's default collation.
--
-- Times are timestamptz: microsecond precision, as in the SQLite store, and
-- an instant rather than a wall-clock reading, so no session time zone can
-- shift them. NULL means "never" for the optional times.

-- +goose Up
CREATE TABLE tenants (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    parent_id  TEXT COLLATE "C" REFERENCES tenants (id),
    name       TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    enabled    BOOLEAN     NOT NULL,
    version    BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every client id ever issued, and when its client was deleted. A deleted
-- client's id is never handed out again: tokens and audit records that name
-- it must not start to mean a different client.
--
-- This is the tombstone table of the SQLite schema, but holding live ids
-- too. A separate tombstone table checked by a trigger would race across
-- connections: an insert that checks for a tombstone while a delete of the
-- same id is still uncommitted sees none, waits on the primary key for the
-- delete to commit, and then succeeds, reusing the id. A primary key that
-- every insert must pass through, and that nothing deletes from, has no such
-- gap: the second insert of an id fails, whether the first client still
-- exists or not.
CREATE TABLE client_ids (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    deleted_at TIMESTAMPTZ
);

CREATE TABLE clients (
    id                  TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES client_ids (id),
    tenant_id           TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    auth_method         TEXT        NOT NULL,
    role                TEXT        NOT NULL,
    status              TEXT        NOT NULL,
    -- json, not jsonb: json keeps the exact text the caller gave (spacing,
    -- key order, number spelling), which jsonb would normalize.
    data                JSON,
    secret_hash         BYTEA,
    generation          BIGINT      NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    created_by          TEXT        NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    last_access_at      TIMESTAMPTZ,
    last_access_from_ip TEXT
);

-- Serves ListClients: one tenant's clients in id order, seeking past a cursor.
CREATE INDEX clients_tenant_id_id ON clients (tenant_id, id);

-- The trigger, not only the Go code, registers each new id, so that no write
-- path (a future bulk import, a hand-run SQL fix) can resurrect an id: the
-- registry's primary key rejects it with a unique violation on
-- client_ids_pkey. The function's search_path is pinned to the schema it was
-- created in, so it finds client_ids whatever the caller's search_path.
-- +goose StatementBegin
CREATE FUNCTION clients_register_id() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO client_ids (id) VALUES (NEW.id);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER clients_id_never_reused
BEFORE INSERT ON clients
FOR EACH ROW EXECUTE FUNCTION clients_register_id();

CREATE TABLE signing_keys (
    kid         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    algorithm   TEXT        NOT NULL,
    private_key BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    active_at   TIMESTAMPTZ NOT NULL,
    retire_at   TIMESTAMPTZ
);

-- The change feed (see feed.go): every committed change of a client or a
-- signing key is announced with NOTIFY, by triggers so that no write path can
-- forget it, and inside the writing transaction, so that it goes out when,
-- and only if, the transaction commits. The channel is named after the schema
-- (hashed, to fit the 63 bytes of an identifier), so stores in different
-- schemas of one database do not hear each other. The payload is a kind
-- letter, a colon and the id.
--
-- The client trigger fires only for the columns a replica caches: RecordAccess
-- writes just the last access, and announcing every such batch would make
-- every replica drop the clients it had just served.
-- +goose StatementBegin
CREATE FUNCTION clients_notify_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    channel text := 'gatehouse_changes_' || md5(TG_TABLE_SCHEMA);
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify(channel, 'c:' || OLD.id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- Identical notices of one transaction go out once, so an update
        -- that keeps the id announces it once.
        PERFORM pg_notify(channel, 'c:' || NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER clients_notify_change
AFTER INSERT OR DELETE OR UPDATE OF
    id, tenant_id, auth_method, role, status, data, secret_hash, generation,
    created_at, created_by, updated_at
ON clients
FOR EACH ROW EXECUTE FUNCTION clients_notify_change();

-- +goose StatementBegin
CREATE FUNCTION signing_keys_notify_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    channel text := 'gatehouse_changes_' || md5(TG_TABLE_SCHEMA);
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify(channel, 'k:' || OLD.kid);
    ELSE
        PERFORM pg_notify(channel, 'k:' || NEW.kid);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER signing_keys_notify_change
AFTER INSERT OR UPDATE OR DELETE ON signing_keys
FOR EACH ROW EXECUTE FUNCTION signing_keys_notify_change();

-- +goose Down
DROP TRIGGER signing_keys_notify_change ON signing_keys;
DROP FUNCTION signing_keys_notify_change();
DROP TRIGGER clients_notify_change ON clients;
DROP FUNCTION clients_notify_change();
DROP TABLE signing_keys;
DROP TRIGGER clients_id_never_reused ON clients;
DROP FUNCTION clients_register_id();
DROP TABLE clients;
DROP TABLE client_ids;
DROP TABLE tenants;
