-- Long-running operations of LedgerAdminService (RunExpiry, EvaluateTiers,
-- RecomputeSegments, RunMoments, RebuildProjections, RefreshKpis,
-- FitChurnModel): started on one replica, run in its background, read by
-- any replica (google.longrunning.Operations). The replica running one
-- updates heartbeat_at; a running operation whose heartbeat is stale is
-- reported failed (its replica died). Times are microseconds since the
-- epoch. Started once per idempotency key: the key's record in
-- ledger_idempotency holds the operation's id.

-- +goose Up
CREATE TABLE ledger_operations (
    operation_id TEXT NOT NULL PRIMARY KEY,
    method       TEXT NOT NULL,
    -- The principal that started it.
    caller       TEXT NOT NULL,
    -- '' for every programme.
    programme_id TEXT NOT NULL,
    -- The replica running it.
    runner       TEXT NOT NULL,
    -- running, succeeded, failed or cancelled.
    state        TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
    -- CancelOperation asked for it to stop: its runner cancels it at its
    -- next heartbeat.
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- Items (members) the work has done so far, as it reports them: updated
    -- with the heartbeat.
    progress     BIGINT NOT NULL DEFAULT 0,
    -- Once done: the response (a google.protobuf.Any) or the error (a
    -- google.rpc.Status), serialized.
    outcome      {{.Bytes}} NOT NULL,
    created_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    ended_at     BIGINT NOT NULL DEFAULT 0
);
-- Listing, newest first.
CREATE INDEX ledger_operations_created ON ledger_operations (created_at, operation_id){{if .Cockroach}} USING HASH{{end}};

-- +goose Down
DROP TABLE ledger_operations;
