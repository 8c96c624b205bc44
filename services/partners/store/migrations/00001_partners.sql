-- Partners schema (a template, see sqldb.SchemaTypes). Times are
-- microseconds since the epoch (0: none); money owed is in millionths of
-- the currency, so sums are exact on every engine.

-- +goose Up
CREATE TABLE partners_partners (
    partner_id      TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    programme_id    TEXT NOT NULL,
    earn_unit       TEXT NOT NULL,
    earn_rate       {{.Decimal}} NOT NULL,
    rounding        TEXT NOT NULL,
    price_per_point {{.Decimal}} NOT NULL,
    value_per_point {{.Decimal}} NOT NULL,
    currency        TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    -- SHA-256 of the API key's secret; the secret itself is never stored.
    key_hash        {{.Bytes}} NOT NULL,
    salt            {{.Bytes}} NOT NULL,
    created_at      BIGINT NOT NULL
);

-- A member linked to a partner, known to it by member_ref only.
CREATE TABLE partners_links (
    partner_id TEXT NOT NULL,
    member_ref TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (partner_id, member_ref),
    CONSTRAINT partners_links_member UNIQUE (partner_id, member_id)
);
CREATE INDEX partners_links_ref ON partners_links (member_ref);

CREATE TABLE partners_offers (
    offer_id       TEXT PRIMARY KEY,
    partner_id     TEXT NOT NULL,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    multiplier     {{.Decimal}},
    bonus_points   BIGINT NOT NULL,
    tiers          TEXT NOT NULL,
    segments       TEXT NOT NULL,
    valid_from     BIGINT NOT NULL,
    valid_until    BIGINT NOT NULL,
    cap_per_member INTEGER NOT NULL,
    cap_period     TEXT NOT NULL,
    min_interval   BIGINT NOT NULL,
    budget_points  BIGINT NOT NULL,
    spent_points   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    -- The budget is never overspent.
    CONSTRAINT partners_offers_budget CHECK (spent_points >= 0 AND spent_points <= budget_points)
);
CREATE INDEX partners_offers_partner ON partners_offers (partner_id);

-- Uses of an offer per member and cap period.
CREATE TABLE partners_offer_usage (
    offer_id   TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    period_key TEXT NOT NULL,
    used       INTEGER NOT NULL CHECK (used >= 0),
    last_at    BIGINT NOT NULL,
    PRIMARY KEY (offer_id, member_id, period_key)
);

CREATE TABLE partners_txns (
    txn_id       TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    partner_id   TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    programme_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    amount       {{.Decimal}},
    unit         TEXT NOT NULL,
    points       BIGINT NOT NULL,
    bonus_points BIGINT NOT NULL,
    offer_id     TEXT NOT NULL,
    period_key   TEXT NOT NULL,
    money_micros BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    reference    TEXT NOT NULL,
    entry_id     TEXT NOT NULL,
    failure      TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX partners_txns_partner ON partners_txns (partner_id, occurred_at){{if .Cockroach}} USING HASH{{end}};
CREATE INDEX partners_txns_pending ON partners_txns (updated_at){{if .Cockroach}} USING HASH{{end}} WHERE status = 'pending';

CREATE TABLE partners_idempotency (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    method       TEXT NOT NULL,
    request_hash {{.Bytes}} NOT NULL,
    subject_id   TEXT NOT NULL,
    response     {{.Bytes}} NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key){{if .Cockroach}} USING HASH{{end}}
);

-- Every partner call: who, what, and the decision.
CREATE TABLE partners_audit (
    audit_id  TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    at        BIGINT NOT NULL,
    principal TEXT NOT NULL,
    method    TEXT NOT NULL,
    decision  TEXT NOT NULL,
    code      TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE INDEX partners_audit_principal ON partners_audit (principal, at){{if .Cockroach}} USING HASH{{end}};

-- Settlement per partner and calendar month (UTC), for BI: points issued
-- (with offer bonuses) and burned, and money owed each way at the agreed
-- rates, in the partner's settlement currency.
CREATE VIEW partner_settlement_monthly AS
SELECT
    t.partner_id,
    p.name AS partner_name,
    t.programme_id,
    {{.Month "t.occurred_at"}} AS month,
    t.currency,
    SUM(CASE WHEN t.kind = 'earn' THEN 1 ELSE 0 END) AS earn_count,
    SUM(CASE WHEN t.kind = 'burn' THEN 1 ELSE 0 END) AS burn_count,
    SUM(CASE WHEN t.kind = 'earn' THEN t.points ELSE 0 END) AS points_issued,
    SUM(CASE WHEN t.kind = 'earn' THEN t.bonus_points ELSE 0 END) AS bonus_points_issued,
    SUM(CASE WHEN t.kind = 'burn' THEN t.points ELSE 0 END) AS points_burned,
    SUM(CASE WHEN t.kind = 'earn' THEN t.money_micros ELSE 0 END) / 1000000.0 AS owed_by_partner,
    SUM(CASE WHEN t.kind = 'burn' THEN t.money_micros ELSE 0 END) / 1000000.0 AS owed_to_partner
FROM partners_txns t
JOIN partners_partners p ON p.partner_id = t.partner_id
WHERE t.status = 'completed'
GROUP BY t.partner_id, p.name, t.programme_id, month, t.currency;

-- +goose Down
DROP VIEW partner_settlement_monthly;
DROP TABLE partners_audit;
DROP TABLE partners_idempotency;
DROP TABLE partners_txns;
DROP TABLE partners_offer_usage;
DROP TABLE partners_offers;
DROP TABLE partners_links;
DROP TABLE partners_partners;
