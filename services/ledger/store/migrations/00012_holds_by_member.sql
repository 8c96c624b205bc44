-- +goose Up
-- ListHolds pages through a member's holds of every status, oldest first.
CREATE INDEX ledger_holds_member ON ledger_holds (member_id, created_at, hold_id);

-- +goose Down
DROP INDEX ledger_holds_member;
