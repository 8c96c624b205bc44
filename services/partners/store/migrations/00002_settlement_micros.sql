-- Settlement amounts also in exact micros: the decimal columns divide by a
-- float on SQLite, and BI that reconciles to the cent should sum micros.

-- The view is dropped and created again (PostgreSQL refuses CREATE OR
-- REPLACE when columns move, and SQLite has none); CockroachDB refuses to
-- create a name dropped in the same transaction, so there this migration
-- runs outside one, each statement one that can run again.

{{.NoTransaction}}
-- +goose Up
DROP VIEW IF EXISTS partner_settlement_monthly;
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
    SUM(CASE WHEN t.kind = 'earn' THEN t.money_micros ELSE 0 END) AS owed_by_partner_micros,
    SUM(CASE WHEN t.kind = 'burn' THEN t.money_micros ELSE 0 END) AS owed_to_partner_micros,
    SUM(CASE WHEN t.kind = 'earn' THEN t.money_micros ELSE 0 END) / 1000000.0 AS owed_by_partner,
    SUM(CASE WHEN t.kind = 'burn' THEN t.money_micros ELSE 0 END) / 1000000.0 AS owed_to_partner
FROM partners_txns t
JOIN partners_partners p ON p.partner_id = t.partner_id
WHERE t.status = 'completed'
GROUP BY t.partner_id, p.name, t.programme_id, month, t.currency;

-- +goose Down
DROP VIEW IF EXISTS partner_settlement_monthly;
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
