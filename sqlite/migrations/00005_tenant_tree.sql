-- The tenant tree (see tenants.go). Numbered 00005 to keep the version
-- numbers of the PostgreSQL schema, whose 00004 (the shared failure counts
-- of the rate limiter) has no SQLite twin.
--
-- generation counts the times the tenant was disabled: a token carries the
-- sum of its client's generation and its tenants', so that tokens issued
-- before a tenant was disabled stay revoked once it is enabled again. 0 for
-- the tenants that exist already: they were never disabled through the API,
-- and 0 keeps every token issued so far valid.

-- +goose Up
ALTER TABLE tenants ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

-- Serves ListTenantChildren: one parent's children in id order. It also
-- makes the parent_id foreign key cheap to check.
CREATE INDEX tenants_parent_id_id ON tenants (parent_id, id);

-- +goose Down
DROP INDEX tenants_parent_id_id;
ALTER TABLE tenants DROP COLUMN generation;
