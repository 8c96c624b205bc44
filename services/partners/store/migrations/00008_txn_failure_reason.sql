-- A failed partner transaction keeps the reason the ledger refused it for
-- (INSUFFICIENT_POINTS, ...), next to its message, so that a retry with
-- its idempotency key replays the refusal with that reason. Transactions
-- that failed before have none: they replay with PARTNER_TXN_FAILED.
--
-- Outside a transaction on CockroachDB, like the other migrations that add
-- a column with a default: it backfills it in a schema-change job of its
-- own. Each statement can run again.

{{.NoTransaction}}
-- +goose Up
ALTER TABLE partners_txns {{.AddColumn}} failure_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE partners_txns {{.DropColumn}} failure_reason;
