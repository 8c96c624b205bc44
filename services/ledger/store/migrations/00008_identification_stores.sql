-- The identification rate compares like with like. Stores report their
-- anonymous sales (LedgerService.ReportAnonymousSales), so only identified
-- purchases made in store (channel pos) count against them: e-commerce,
-- partner and operator purchases are identified by nature and would inflate
-- the rate of a business that also sells online. The view keeps its name
-- and columns for BI; PostgreSQL and CockroachDB replace it in place, which
-- keeps the grants BI reads it with.

-- +goose Up
{{if .SQLite}}DROP VIEW kpi_identification;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_identification AS
SELECT programme_id, month,
    SUM(identified) AS identified_transactions,
    SUM(anonymous) AS anonymous_transactions,
    CASE WHEN SUM(identified) + SUM(anonymous) > 0
        THEN SUM(identified) * 1.0 / (SUM(identified) + SUM(anonymous))
    END AS identification_rate
FROM (
    SELECT p.programme_id, {{.Month "p.occurred_at"}} AS month, 1 AS identified, 0 AS anonymous
    FROM member_purchases p JOIN ledger_entries e ON e.entry_id = p.entry_id
    WHERE NOT p.is_return AND e.channel = 'pos'
    UNION ALL
    SELECT programme_id, substr(business_day, 1, 7) AS month, 0 AS identified, transactions AS anonymous
    FROM ledger_anonymous_sales
) sales
GROUP BY programme_id, month;

-- +goose Down
{{if .SQLite}}DROP VIEW kpi_identification;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_identification AS
SELECT programme_id, month,
    SUM(identified) AS identified_transactions,
    SUM(anonymous) AS anonymous_transactions,
    CASE WHEN SUM(identified) + SUM(anonymous) > 0
        THEN SUM(identified) * 1.0 / (SUM(identified) + SUM(anonymous))
    END AS identification_rate
FROM (
    SELECT programme_id, {{.Month "occurred_at"}} AS month, 1 AS identified, 0 AS anonymous
    FROM member_purchases WHERE NOT is_return
    UNION ALL
    SELECT programme_id, substr(business_day, 1, 7) AS month, 0 AS identified, transactions AS anonymous
    FROM ledger_anonymous_sales
) sales
GROUP BY programme_id, month;
