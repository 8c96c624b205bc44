-- The member event stream's epoch: RebuildProjections re-appends the
-- derived events (same event ids, new positions) and starts a new epoch, so
-- that a cursor of an earlier epoch — a position that now means something
-- else — is refused (CURSOR_STALE) instead of read. Every replica reads the
-- epoch here, with the stream's head. epoch_started_at is when the epoch
-- began (microseconds; 0 for the first).
--
-- member_events_recorded finds where a stream that starts from a time
-- begins (the first position recorded at or after it). Hash-sharded on
-- CockroachDB, where a time-ordered index would send every insert to one
-- range.
--
-- Outside a transaction on CockroachDB, like the other migrations that add
-- a column with a default: it backfills it in a schema-change job of its
-- own. Each statement can run again.

{{.NoTransaction}}
-- +goose Up
ALTER TABLE projection_state {{.AddColumn}} epoch BIGINT NOT NULL DEFAULT 1;
ALTER TABLE projection_state {{.AddColumn}} epoch_started_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS member_events_recorded ON member_events (recorded_at){{if .Cockroach}} USING HASH{{end}};

-- +goose Down
DROP INDEX IF EXISTS member_events_recorded;
ALTER TABLE projection_state {{.DropColumn}} epoch_started_at;
ALTER TABLE projection_state {{.DropColumn}} epoch;
