-- Sales to customers who did not identify, as stores report them per
-- business day (LedgerService.ReportAnonymousSales): with the identified
-- purchases the ledger records, they give the identification rate.

-- +goose Up
CREATE TABLE ledger_anonymous_sales (
    programme_id TEXT NOT NULL,
    store_id     TEXT NOT NULL,
    -- YYYY-MM-DD in the programme's time zone.
    business_day TEXT NOT NULL,
    transactions BIGINT NOT NULL CHECK (transactions >= 0),
    counted_at   BIGINT NOT NULL,
    PRIMARY KEY (programme_id, business_day, store_id)
);

-- Per month: identified sales (purchases by members, returns excluded; UTC
-- month) and anonymous sales (the business day's month), for BI.
CREATE VIEW kpi_identification AS
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

-- +goose Down
DROP VIEW kpi_identification;
DROP TABLE ledger_anonymous_sales;
