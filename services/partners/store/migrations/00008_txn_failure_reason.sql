-- A failed partner transaction keeps the reason the ledger refused it for
-- (INSUFFICIENT_POINTS, ...), next to its message, so that a retry with
-- its idempotency key replays the refusal with that reason. Transactions
-- that failed before have none: they replay with PARTNER_TXN_FAILED.
--
-- Outside a transaction, like the other migrations that add a column with
-- a default: CockroachDB backfills it in a schema-change job of its own.

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE partners_txns ADD COLUMN failure_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE partners_txns DROP COLUMN failure_reason;
