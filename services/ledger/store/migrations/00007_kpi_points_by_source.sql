-- Expired points are counted against the channel and partner that issued
-- them (the source entry of each expired lot), so that breakage per channel
-- and per partner means something; held points are owed until captured, so
-- they are part of the liability. The churn-risk pseudonyms are keyed with
-- a secret of the installation (never in a view), so that knowing a member
-- id is not enough to find the member in BI.
--
-- The views are dropped and created again (PostgreSQL refuses CREATE OR
-- REPLACE when columns move, and SQLite has none); CockroachDB refuses to
-- create a name dropped in the same transaction, so there this migration
-- runs outside one, each statement one that can run again.

{{.NoTransaction}}
-- +goose Up
CREATE TABLE IF NOT EXISTS ledger_secrets (
    name   TEXT PRIMARY KEY,
    secret {{.Bytes}} NOT NULL
);

DROP VIEW IF EXISTS kpi_points;
CREATE VIEW kpi_points AS
SELECT programme_id, month, channel, partner_id,
    SUM(issued) AS issued, SUM(burned) AS burned, SUM(refunded) AS refunded, SUM(expired) AS expired,
    SUM(clawed_back) AS clawed_back,
    CASE WHEN SUM(issued) > 0 THEN SUM(expired) * 1.0 / SUM(issued) END AS breakage_rate,
    CASE WHEN SUM(issued) > 0 THEN (SUM(burned) - SUM(refunded)) * 1.0 / SUM(issued) END AS redemption_rate
FROM (
    SELECT programme_id, {{.Month "occurred_at"}} AS month, channel, partner_id,
        CASE WHEN kind = 'earn' THEN points ELSE 0 END AS issued,
        CASE WHEN kind IN ('burn', 'capture') THEN points ELSE 0 END AS burned,
        CASE WHEN kind = 'refund' THEN points ELSE 0 END AS refunded,
        0 AS expired,
        CASE WHEN kind = 'clawback' THEN points ELSE 0 END AS clawed_back
    FROM ledger_entries WHERE kind <> 'expiry'
    UNION ALL
    SELECT x.programme_id, {{.Month "x.occurred_at"}}, src.channel, src.partner_id, 0, 0, 0, -m.points, 0
    FROM ledger_entries x
    JOIN ledger_lot_moves m ON m.entry_id = x.entry_id
    JOIN ledger_lots l ON l.lot_id = m.lot_id
    JOIN ledger_entries src ON src.entry_id = l.source_entry_id
    WHERE x.kind = 'expiry'
) AS p
GROUP BY programme_id, month, channel, partner_id;

DROP VIEW IF EXISTS kpi_liability;
CREATE VIEW kpi_liability AS
SELECT m.programme_id, COUNT(*) AS members, SUM(m.available) AS available_points, SUM(m.pending) AS pending_points,
    SUM(m.available) + SUM(m.pending) + SUM(m.held) AS outstanding_points, p.currency,
    (SUM(m.available) + SUM(m.pending) + SUM(m.held)) * p.point_value AS outstanding_value,
    SUM(m.held) AS held_points
FROM ledger_members m LEFT JOIN kpi_programmes p ON p.programme_id = m.programme_id
GROUP BY m.programme_id, p.currency, p.point_value;

-- +goose Down
DROP TABLE IF EXISTS ledger_secrets;
DROP VIEW IF EXISTS kpi_liability;
CREATE VIEW kpi_liability AS
SELECT m.programme_id, COUNT(*) AS members, SUM(m.available) AS available_points, SUM(m.pending) AS pending_points,
    SUM(m.available) + SUM(m.pending) AS outstanding_points, p.currency,
    (SUM(m.available) + SUM(m.pending)) * p.point_value AS outstanding_value
FROM ledger_members m JOIN kpi_programmes p ON p.programme_id = m.programme_id
GROUP BY m.programme_id, p.currency, p.point_value;

DROP VIEW IF EXISTS kpi_points;
CREATE VIEW kpi_points AS
SELECT programme_id, {{.Month "occurred_at"}} AS month, channel, partner_id,
    SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END) AS issued,
    SUM(CASE WHEN kind IN ('burn', 'capture') THEN points ELSE 0 END) AS burned,
    SUM(CASE WHEN kind = 'refund' THEN points ELSE 0 END) AS refunded,
    SUM(CASE WHEN kind = 'expiry' THEN points ELSE 0 END) AS expired,
    SUM(CASE WHEN kind = 'clawback' THEN points ELSE 0 END) AS clawed_back,
    CASE WHEN SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END) > 0
        THEN SUM(CASE WHEN kind = 'expiry' THEN points ELSE 0 END) * 1.0 / SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END)
    END AS breakage_rate,
    CASE WHEN SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END) > 0
        THEN (SUM(CASE WHEN kind IN ('burn', 'capture') THEN points ELSE 0 END) - SUM(CASE WHEN kind = 'refund' THEN points ELSE 0 END))
            * 1.0 / SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END)
    END AS redemption_rate
FROM ledger_entries
GROUP BY programme_id, {{.Month "occurred_at"}}, channel, partner_id;
