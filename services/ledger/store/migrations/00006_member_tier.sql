-- The tier that prices a member's purchases is read from member_status,
-- which the projections own: the ledger and the projector then never update
-- the same row (on PostgreSQL such updates failed the projector under load).

-- +goose Up
ALTER TABLE ledger_members DROP COLUMN tier;

-- +goose Down
ALTER TABLE ledger_members ADD COLUMN tier TEXT NOT NULL DEFAULT '';
UPDATE ledger_members SET tier = COALESCE((SELECT tier FROM member_status WHERE member_status.member_id = ledger_members.member_id), '');
