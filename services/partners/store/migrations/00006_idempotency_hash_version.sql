-- An idempotency record carries the hash version of the request form it
-- was hashed in (see services/internal/idem): every record written before
-- this migration is version 1, the hash the service used until then, so
-- that its key still replays.
--
-- Outside a transaction on CockroachDB, like the other migrations that add
-- a column with a default: it backfills it in a schema-change job of its
-- own. Each statement can run again.

{{.NoTransaction}}
-- +goose Up
ALTER TABLE partners_idempotency {{.AddColumn}} hash_version INTEGER NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE partners_idempotency {{.DropColumn}} hash_version;
