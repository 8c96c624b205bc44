-- Rewards schema (a template, see sqldb.SchemaTypes). Times are microseconds
-- since the epoch (0: none). Lists (segments, stores, channels) are
-- comma-separated; their items are validated to hold no commas.

-- +goose Up
CREATE TABLE rewards_rewards (
    reward_id        TEXT PRIMARY KEY,
    programme_id     TEXT NOT NULL,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    points_cost      BIGINT NOT NULL CHECK (points_cost > 0),
    type             TEXT NOT NULL,
    amount           {{.Decimal}},
    currency         TEXT,
    percent          {{.Decimal}},
    product_sku      TEXT NOT NULL,
    partner_id       TEXT NOT NULL,
    partner_ref      TEXT NOT NULL,
    valid_from       BIGINT NOT NULL,
    valid_until      BIGINT NOT NULL,
    voucher_validity BIGINT NOT NULL,
    stock_total      BIGINT NOT NULL,
    stock_allocated  BIGINT NOT NULL,
    member_limit     INTEGER NOT NULL,
    limit_period     TEXT NOT NULL,
    min_tier         TEXT NOT NULL,
    segments         TEXT NOT NULL,
    store_ids        TEXT NOT NULL,
    channels         TEXT NOT NULL,
    active           BOOLEAN NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    -- Stock never oversells.
    CONSTRAINT rewards_stock CHECK (stock_allocated >= 0 AND stock_allocated <= stock_total)
);
CREATE INDEX rewards_rewards_programme ON rewards_rewards (programme_id);

CREATE TABLE rewards_redemptions (
    redemption_id    TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    reward_id        TEXT NOT NULL,
    member_id        TEXT NOT NULL,
    programme_id     TEXT NOT NULL,
    status           TEXT NOT NULL,
    points           BIGINT NOT NULL,
    hold_id          TEXT NOT NULL,
    capture_entry_id TEXT NOT NULL,
    refund_entry_id  TEXT NOT NULL,
    voucher_code     TEXT NOT NULL,
    period_key       TEXT NOT NULL,
    failure          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX rewards_redemptions_member ON rewards_redemptions (member_id, reward_id);
CREATE INDEX rewards_redemptions_unfinished ON rewards_redemptions (updated_at){{if .Cockroach}} USING HASH{{end}}
    WHERE status IN ('started', 'pending', 'cancelling');

-- Redemptions per member, reward and limit period; a conditional increment
-- keeps concurrent redemptions within the limit.
CREATE TABLE rewards_member_usage (
    member_id  TEXT NOT NULL,
    reward_id  TEXT NOT NULL,
    period_key TEXT NOT NULL,
    used       INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (member_id, reward_id, period_key)
);

CREATE TABLE rewards_vouchers (
    code               TEXT PRIMARY KEY,
    redemption_id      TEXT NOT NULL,
    reward_id          TEXT NOT NULL,
    member_id          TEXT NOT NULL,
    status             TEXT NOT NULL,
    issued_at          BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    consumed_at        BIGINT NOT NULL,
    consumed_store     TEXT NOT NULL,
    consumed_channel   TEXT NOT NULL,
    consumed_order_ref TEXT NOT NULL,
    consume_key        TEXT NOT NULL,
    -- CockroachDB hash-shards a unique key as an index.
    {{if .Cockroach}}UNIQUE INDEX rewards_vouchers_redemption (redemption_id) USING HASH
    {{- else}}CONSTRAINT rewards_vouchers_redemption UNIQUE (redemption_id){{end}}
);

CREATE TABLE rewards_idempotency (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    method       TEXT NOT NULL,
    request_hash {{.Bytes}} NOT NULL,
    -- The redemption (or reward) the request created, to resume or replay.
    subject_id   TEXT NOT NULL,
    response     {{.Bytes}} NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key){{if .Cockroach}} USING HASH{{end}}
);

-- +goose Down
DROP TABLE rewards_idempotency;
DROP TABLE rewards_vouchers;
DROP TABLE rewards_member_usage;
DROP TABLE rewards_redemptions;
DROP TABLE rewards_rewards;
