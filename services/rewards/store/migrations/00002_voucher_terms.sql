-- A voucher keeps the terms it was issued with, what it is worth and where
-- it can be used: changing a reward no longer rewrites the vouchers already
-- issued. Vouchers issued before this migration take their reward's terms
-- as they are now, the best record there is of what they were issued with.
--
-- Outside a transaction: CockroachDB cannot backfill a column added in the
-- same transaction.

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE rewards_vouchers ADD COLUMN type TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers ADD COLUMN amount {{.Decimal}};
ALTER TABLE rewards_vouchers ADD COLUMN currency TEXT;
ALTER TABLE rewards_vouchers ADD COLUMN percent {{.Decimal}};
ALTER TABLE rewards_vouchers ADD COLUMN product_sku TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers ADD COLUMN partner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers ADD COLUMN partner_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers ADD COLUMN store_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards_vouchers ADD COLUMN channels TEXT NOT NULL DEFAULT '';
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
ALTER TABLE rewards_vouchers DROP COLUMN channels;
ALTER TABLE rewards_vouchers DROP COLUMN store_ids;
ALTER TABLE rewards_vouchers DROP COLUMN partner_ref;
ALTER TABLE rewards_vouchers DROP COLUMN partner_id;
ALTER TABLE rewards_vouchers DROP COLUMN product_sku;
ALTER TABLE rewards_vouchers DROP COLUMN percent;
ALTER TABLE rewards_vouchers DROP COLUMN currency;
ALTER TABLE rewards_vouchers DROP COLUMN amount;
ALTER TABLE rewards_vouchers DROP COLUMN type;
