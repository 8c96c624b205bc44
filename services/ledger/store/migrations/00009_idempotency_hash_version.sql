-- An idempotency record carries the hash version of the request form it
-- was hashed in, and its response is idem's stored outcome: a reply or a
-- business refusal (see services/internal/idem). Records written before
-- this migration are version 0: a bare reply, whose request was hashed as
-- version 1 is; the store reads them as such until the purge has removed
-- them.
--
-- Outside a transaction on CockroachDB, like the other migrations that add
-- a column with a default: it backfills it in a schema-change job of its
-- own. Each statement can run again.

{{.NoTransaction}}
-- +goose Up
ALTER TABLE ledger_idempotency {{.AddColumn}} hash_version INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE ledger_idempotency {{.DropColumn}} hash_version;
