-- A member's redemptions are listed newest first, a page at a time
-- (ListMemberRedemptions), through this index: the member's rows only,
-- in (created_at, redemption_id) order. It leads with the member, so it
-- does not grow at one end and needs no hash-sharding on CockroachDB.

-- +goose Up
CREATE INDEX rewards_redemptions_member_time ON rewards_redemptions (member_id, created_at, redemption_id);

-- +goose Down
DROP INDEX rewards_redemptions_member_time;
