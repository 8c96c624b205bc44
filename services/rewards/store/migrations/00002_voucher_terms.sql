-- A voucher keeps the terms it was issued with, what it is worth and where
-- it can be used: changing a reward no longer rewrites the vouchers already
-- issued. Vouchers issued before this migration take their reward's terms
-- as they are now, the best record there is of what they were issued with.
--
-- Outside a transaction on CockroachDB, which cannot backfill a column
-- added in the same transaction; each statement can run again.

{{.NoTransaction}}
-- +goose Up
ALTER TABLE rewards_vouchers {{.AddColumn}} type TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers {{.AddColumn}} amount {{.Decimal}};
ALTER TABLE rewards_vouchers {{.AddColumn}} currency TEXT;
ALTER TABLE rewards_vouchers {{.AddColumn}} percent {{.Decimal}};
ALTER TABLE rewards_vouchers {{.AddColumn}} product_sku TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers {{.AddColumn}} partner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers {{.AddColumn}} partner_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers {{.AddColumn}} store_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers {{.AddColumn}} channels TEXT NOT NULL DEFAULT '';
UPDATE rewards_vouchers SET
    type        = (SELECT r.type FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id),
    amount      = (SELECT r.amount FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id),
    currency    = (SELECT r.currency FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id),
    percent     = (SELECT r.percent FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id),
    product_sku = (SELECT r.product_sku FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id),
    partner_id  = (SELECT r.partner_id FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id),
    partner_ref = (SELECT r.partner_ref FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id),
    store_ids   = (SELECT r.store_ids FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id),
    channels    = (SELECT r.channels FROM rewards_rewards r WHERE r.reward_id = rewards_vouchers.reward_id)
WHERE reward_id IN (SELECT reward_id FROM rewards_rewards);

-- +goose Down
ALTER TABLE rewards_vouchers {{.DropColumn}} channels;
ALTER TABLE rewards_vouchers {{.DropColumn}} store_ids;
ALTER TABLE rewards_vouchers {{.DropColumn}} partner_ref;
ALTER TABLE rewards_vouchers {{.DropColumn}} partner_id;
ALTER TABLE rewards_vouchers {{.DropColumn}} product_sku;
ALTER TABLE rewards_vouchers {{.DropColumn}} percent;
ALTER TABLE rewards_vouchers {{.DropColumn}} currency;
ALTER TABLE rewards_vouchers {{.DropColumn}} amount;
ALTER TABLE rewards_vouchers {{.DropColumn}} type;
