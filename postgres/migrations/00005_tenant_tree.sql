-- The tenant tree, the PostgreSQL twin of sqlite/migrations/00005_tenant_tree.sql.
--
-- generation counts the times the tenant was disabled: a token carries the
-- sum of its client's generation and its tenants', so that tokens issued
-- before a tenant was disabled stay revoked once it is enabled again. 0 for
-- the tenants that exist already: they were never disabled through the API,
-- and 0 keeps every token issued so far valid. (Adding a column with a
-- constant default rewrites no rows.)

-- +goose Up
ALTER TABLE tenants ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

-- Serves ListTenantChildren: one parent's children in id order. It also
-- makes the parent_id foreign key cheap to check.
CREATE INDEX tenants_parent_id_id ON tenants (parent_id, id);

-- Announce tenant changes on the change feed (see 00001_init.sql). A
-- tenant's enabled flag and generation decide whether every client of its
-- subtree works, and replicas cache what they derived from them, so an
-- update must reach them at once. An insert needs no notice: a tenant no
-- replica has seen is in no cache (lookups of missing rows are not cached).
-- +goose StatementBegin
CREATE FUNCTION tenants_notify_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('gatehouse_changes_' || md5(TG_TABLE_SCHEMA), 't:' || OLD.id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER tenants_notify_change
AFTER UPDATE OR DELETE ON tenants
FOR EACH ROW EXECUTE FUNCTION tenants_notify_change();

-- +goose Down
DROP TRIGGER tenants_notify_change ON tenants;
DROP FUNCTION tenants_notify_change();
DROP INDEX tenants_parent_id_id;
ALTER TABLE tenants DROP COLUMN generation;
