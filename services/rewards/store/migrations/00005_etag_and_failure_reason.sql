-- A reward's version, its etag (AIP-154): an update or deactivation
-- writes only if the reward is still at the version it read, and moves it
-- on. Rewards created before this migration are at version 1.
--
-- A failed redemption keeps the refusal it failed with, so that a retry of
-- its key replays the same reason (INSUFFICIENT_POINTS from the ledger,
-- REWARD_OUT_OF_STOCK, ...) rather than REDEMPTION_FAILED: failure_reason
-- is the reason (an ErrorReason name, to count failures by), and
-- failure_refusal the whole refusal as an idempotency record keeps one
-- (JSON: kind, reason, message, resource, metadata). Both are empty for
-- redemptions failed before this migration, which replay
-- REDEMPTION_FAILED as they did.
--
-- The catalogue is listed a page at a time in (points_cost, name,
-- reward_id) order, through the index.
--
-- Outside a transaction on CockroachDB, like the other migrations that add
-- a column with a default: it backfills it in a schema-change job of its
-- own. Each statement can run again.

{{.NoTransaction}}
-- +goose Up
ALTER TABLE rewards_rewards {{.AddColumn}} version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE rewards_redemptions {{.AddColumn}} failure_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_redemptions {{.AddColumn}} failure_refusal TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS rewards_rewards_catalogue ON rewards_rewards (programme_id, points_cost, name, reward_id);

-- +goose Down
DROP INDEX IF EXISTS rewards_rewards_catalogue;
ALTER TABLE rewards_redemptions {{.DropColumn}} failure_refusal;
ALTER TABLE rewards_redemptions {{.DropColumn}} failure_reason;
ALTER TABLE rewards_rewards {{.DropColumn}} version;
