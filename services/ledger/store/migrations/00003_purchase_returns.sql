-- A purchase row says whether it is a return (a clawback of a purchase)
-- rather than inferring it from the sign of its amounts: a fully discounted
-- receipt is a purchase of nothing, not a return. Rows written before this
-- migration had no zero-amount purchases, so the sign rule they were read
-- with is exact for them.
--
-- Outside a transaction on CockroachDB, which cannot backfill a column
-- added in the same transaction; each statement can run again.

{{.NoTransaction}}
-- +goose Up
ALTER TABLE member_purchases {{.AddColumn}} is_return BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE member_purchases SET is_return = TRUE WHERE spend_micros <= 0 AND status_points <= 0;

-- +goose Down
ALTER TABLE member_purchases {{.DropColumn}} is_return;
