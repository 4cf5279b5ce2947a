-- Revoked access tokens (RFC 7009), kept only until the token would have
-- expired anyway; the expiry index serves both the load of live revocations
-- and their purge.

-- +goose Up
CREATE TABLE revocations (
    jti        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    client_id  TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX revocations_expires_at ON revocations (expires_at);

-- Announce each new revocation on the change feed (see 00001_init.sql). An
-- INSERT that ON CONFLICT DO NOTHING skips inserts no row and fires nothing;
-- purging expired revocations needs no announcement.
-- +goose StatementBegin
CREATE FUNCTION revocations_notify_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('gatehouse_changes_' || md5(TG_TABLE_SCHEMA), 'r:' || NEW.jti);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER revocations_notify_change
AFTER INSERT ON revocations
FOR EACH ROW EXECUTE FUNCTION revocations_notify_change();

-- +goose Down
DROP TRIGGER revocations_notify_change ON revocations;
DROP FUNCTION revocations_notify_change();
DROP TABLE revocations;
