-- Idempotency records older than the retention are purged (see
-- idem.Retention), through this index. Hash-sharded on CockroachDB, where
-- a time-ordered index would send every insert to one range.

-- +goose Up
CREATE INDEX ledger_idempotency_created ON ledger_idempotency (created_at){{if .Cockroach}} USING HASH{{end}};

-- +goose Down
DROP INDEX ledger_idempotency_created;
