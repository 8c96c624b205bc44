-- KPIs for BI. BI tools connect read-only and read the kpi_* views; they
-- hold counts, rates and points, never personal data (the churn-risk view
-- keys members by a pseudonym). Periods are UTC calendar months.
--
-- Live views read the ledger and the projections directly. The member KPIs
-- (activity, churn, retention, cohorts), the monthly transition matrices and
-- the churn model need a pass over every member's history: the KPI refresh
-- (KpiService.RefreshKpis, `fidelis kpi --refresh`, and daily with the jobs)
-- writes them to the kpi_* tables the other views read.

-- +goose Up
-- The refresh pages through a programme's members in id order.
CREATE INDEX ledger_members_programme ON ledger_members (programme_id, member_id);

CREATE TABLE kpi_programmes (
    programme_id  TEXT PRIMARY KEY,
    currency      TEXT NOT NULL,
    -- What one point is worth, for the liability.
    point_value   {{.Decimal}} NOT NULL,
    inactive_days INTEGER NOT NULL,
    refreshed_at  BIGINT NOT NULL
);

CREATE TABLE kpi_member_periods (
    programme_id      TEXT NOT NULL,
    period            TEXT NOT NULL,
    period_start      BIGINT NOT NULL,
    period_end        BIGINT NOT NULL,
    members_start     BIGINT NOT NULL,
    members_end       BIGINT NOT NULL,
    new_members       BIGINT NOT NULL,
    active_start      BIGINT NOT NULL,
    active_end        BIGINT NOT NULL,
    new_active_end    BIGINT NOT NULL,
    churned           BIGINT NOT NULL,
    purchasers        BIGINT NOT NULL,
    repeat_purchasers BIGINT NOT NULL,
    PRIMARY KEY (programme_id, period)
);

CREATE TABLE kpi_cohorts (
    programme_id TEXT NOT NULL,
    cohort       TEXT NOT NULL,
    months_since INTEGER NOT NULL,
    cohort_size  BIGINT NOT NULL,
    active       BIGINT NOT NULL,
    PRIMARY KEY (programme_id, cohort, months_since)
);

-- Segment and tier moves from the start to the end of each month.
CREATE TABLE kpi_transitions (
    programme_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    period       TEXT NOT NULL,
    from_state   TEXT NOT NULL,
    to_state     TEXT NOT NULL,
    members      BIGINT NOT NULL,
    PRIMARY KEY (programme_id, kind, period, from_state, to_state)
);

CREATE TABLE kpi_churn_models (
    programme_id    TEXT PRIMARY KEY,
    fitted_at       BIGINT NOT NULL,
    calibration_end BIGINT NOT NULL,
    customers       BIGINT NOT NULL,
    r               DOUBLE PRECISION NOT NULL,
    alpha           DOUBLE PRECISION NOT NULL,
    a               DOUBLE PRECISION NOT NULL,
    b               DOUBLE PRECISION NOT NULL,
    log_likelihood  DOUBLE PRECISION NOT NULL,
    horizon_weeks   DOUBLE PRECISION NOT NULL
);

CREATE TABLE kpi_churn_risk (
    programme_id       TEXT NOT NULL,
    member_id          TEXT NOT NULL,
    member_key         TEXT NOT NULL,
    repeat_purchases   INTEGER NOT NULL,
    t_x_weeks          DOUBLE PRECISION NOT NULL,
    t_weeks            DOUBLE PRECISION NOT NULL,
    p_alive            DOUBLE PRECISION NOT NULL,
    expected_purchases DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (programme_id, member_id)
);

-- Active, new and churned members per month; churn rate; retention rate
-- ((active at end - new active at end) / active at start); repeat-purchase
-- rate (buyers of the month who bought twice or more).
CREATE VIEW kpi_members AS
SELECT programme_id, period, members_start, members_end, new_members, active_start, active_end, churned,
    CASE WHEN active_start > 0 THEN churned * 1.0 / active_start END AS churn_rate,
    CASE WHEN active_start > 0 THEN (active_end - new_active_end) * 1.0 / active_start END AS retention_rate,
    purchasers, repeat_purchasers,
    CASE WHEN purchasers > 0 THEN repeat_purchasers * 1.0 / purchasers END AS repeat_purchase_rate
FROM kpi_member_periods;

-- Enrolment cohort x months since enrolment: the share of the cohort that
-- bought in that month.
CREATE VIEW kpi_cohort_retention AS
SELECT programme_id, cohort, months_since, cohort_size, active,
    CASE WHEN cohort_size > 0 THEN active * 1.0 / cohort_size END AS retention
FROM kpi_cohorts;

CREATE VIEW kpi_segment_transitions AS
SELECT programme_id, period, from_state AS from_segment, to_state AS to_segment, members,
    members * 1.0 / SUM(members) OVER (PARTITION BY programme_id, period, from_state) AS row_share
FROM kpi_transitions WHERE kind = 'segment';

CREATE VIEW kpi_tier_transitions AS
SELECT programme_id, period, from_state AS from_tier, to_state AS to_tier, members,
    members * 1.0 / SUM(members) OVER (PARTITION BY programme_id, period, from_state) AS row_share
FROM kpi_transitions WHERE kind = 'tier';

-- Current RFM segments and tiers.
CREATE VIEW kpi_segment_distribution AS
SELECT programme_id, segment, COUNT(*) AS members,
    COUNT(*) * 1.0 / SUM(COUNT(*)) OVER (PARTITION BY programme_id) AS share
FROM member_status WHERE segment <> '' GROUP BY programme_id, segment;

CREATE VIEW kpi_tier_distribution AS
SELECT programme_id, tier, COUNT(*) AS members,
    COUNT(*) * 1.0 / SUM(COUNT(*)) OVER (PARTITION BY programme_id) AS share
FROM member_status WHERE tier <> '' GROUP BY programme_id, tier;

-- Points per month, channel and partner: issued (earned), burned (burns and
-- captures), refunded, expired, clawed back; breakage (expired / issued) and
-- redemption (burned net of refunds / issued) rates.
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

-- Outstanding points (available and pending) and what they are worth.
CREATE VIEW kpi_liability AS
SELECT m.programme_id, COUNT(*) AS members, SUM(m.available) AS available_points, SUM(m.pending) AS pending_points,
    SUM(m.available) + SUM(m.pending) AS outstanding_points, p.currency,
    (SUM(m.available) + SUM(m.pending)) * p.point_value AS outstanding_value
FROM ledger_members m JOIN kpi_programmes p ON p.programme_id = m.programme_id
GROUP BY m.programme_id, p.currency, p.point_value;

CREATE VIEW kpi_churn_model AS
SELECT programme_id, fitted_at, calibration_end, customers, r, alpha, a, b, log_likelihood, horizon_weeks FROM kpi_churn_models;

-- Per member (by pseudonym): P(alive) and expected purchases over the
-- model's horizon. Flag churn on expected purchases: P(alive) is 1 for
-- every one-time buyer.
CREATE VIEW kpi_churn_risk_members AS
SELECT programme_id, member_key, repeat_purchases, t_x_weeks, t_weeks, p_alive, expected_purchases FROM kpi_churn_risk;

-- +goose Down
DROP VIEW kpi_churn_risk_members;
DROP VIEW kpi_churn_model;
DROP VIEW kpi_liability;
DROP VIEW kpi_points;
DROP VIEW kpi_tier_distribution;
DROP VIEW kpi_segment_distribution;
DROP VIEW kpi_tier_transitions;
DROP VIEW kpi_segment_transitions;
DROP VIEW kpi_cohort_retention;
DROP VIEW kpi_members;
DROP TABLE kpi_churn_risk;
DROP TABLE kpi_churn_models;
DROP TABLE kpi_transitions;
DROP TABLE kpi_cohorts;
DROP TABLE kpi_member_periods;
DROP TABLE kpi_programmes;
DROP INDEX ledger_members_programme;
