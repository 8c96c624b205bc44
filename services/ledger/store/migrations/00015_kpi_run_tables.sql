-- KPI refresh runs (see 00014): the refreshed figures move to kpi_run_*
-- tables keyed by run, the current figures becoming run 0, and the BI
-- views keep their names and columns and read the programme's current run
-- (kpi_programmes.run, churn_run for the churn model and risks).
-- PostgreSQL and CockroachDB replace the views in place, which keeps the
-- grants BI reads them with.

-- +goose Up
-- The last run id given per programme: ids only grow, so a refresh never
-- switches back to an older run, and deleting the runs older than the
-- current one never touches a refresh still writing a newer one.
CREATE TABLE kpi_runs (
    programme_id TEXT PRIMARY KEY,
    last_run     BIGINT NOT NULL
);

CREATE TABLE kpi_run_member_periods (
    programme_id      TEXT NOT NULL,
    run               BIGINT NOT NULL,
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
    PRIMARY KEY (programme_id, run, period)
);

CREATE TABLE kpi_run_cohorts (
    programme_id TEXT NOT NULL,
    run          BIGINT NOT NULL,
    cohort       TEXT NOT NULL,
    months_since INTEGER NOT NULL,
    cohort_size  BIGINT NOT NULL,
    active       BIGINT NOT NULL,
    PRIMARY KEY (programme_id, run, cohort, months_since)
);

CREATE TABLE kpi_run_transitions (
    programme_id TEXT NOT NULL,
    run          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    period       TEXT NOT NULL,
    from_state   TEXT NOT NULL,
    to_state     TEXT NOT NULL,
    members      BIGINT NOT NULL,
    PRIMARY KEY (programme_id, run, kind, period, from_state, to_state)
);

CREATE TABLE kpi_run_churn_models (
    programme_id    TEXT NOT NULL,
    run             BIGINT NOT NULL,
    fitted_at       BIGINT NOT NULL,
    calibration_end BIGINT NOT NULL,
    customers       BIGINT NOT NULL,
    r               DOUBLE PRECISION NOT NULL,
    alpha           DOUBLE PRECISION NOT NULL,
    a               DOUBLE PRECISION NOT NULL,
    b               DOUBLE PRECISION NOT NULL,
    log_likelihood  DOUBLE PRECISION NOT NULL,
    horizon_weeks   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (programme_id, run)
);

CREATE TABLE kpi_run_churn_risk (
    programme_id       TEXT NOT NULL,
    run                BIGINT NOT NULL,
    member_id          TEXT NOT NULL,
    member_key         TEXT NOT NULL,
    repeat_purchases   INTEGER NOT NULL,
    t_x_weeks          DOUBLE PRECISION NOT NULL,
    t_weeks            DOUBLE PRECISION NOT NULL,
    p_alive            DOUBLE PRECISION NOT NULL,
    expected_purchases DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (programme_id, run, member_id)
);

-- The current figures become run 0, the run kpi_programmes points at.
INSERT INTO kpi_run_member_periods SELECT programme_id, 0, period, period_start, period_end, members_start, members_end,
    new_members, active_start, active_end, new_active_end, churned, purchasers, repeat_purchasers FROM kpi_member_periods;
INSERT INTO kpi_run_cohorts SELECT programme_id, 0, cohort, months_since, cohort_size, active FROM kpi_cohorts;
INSERT INTO kpi_run_transitions SELECT programme_id, 0, kind, period, from_state, to_state, members FROM kpi_transitions;
INSERT INTO kpi_run_churn_models SELECT programme_id, 0, fitted_at, calibration_end, customers, r, alpha, a, b, log_likelihood,
    horizon_weeks FROM kpi_churn_models;
INSERT INTO kpi_run_churn_risk SELECT programme_id, 0, member_id, member_key, repeat_purchases, t_x_weeks, t_weeks, p_alive,
    expected_purchases FROM kpi_churn_risk;

{{if .SQLite}}DROP VIEW kpi_members;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_members AS
SELECT k.programme_id, k.period, k.members_start, k.members_end, k.new_members, k.active_start, k.active_end, k.churned,
    CASE WHEN k.active_start > 0 THEN k.churned * 1.0 / k.active_start END AS churn_rate,
    CASE WHEN k.active_start > 0 THEN (k.active_end - k.new_active_end) * 1.0 / k.active_start END AS retention_rate,
    k.purchasers, k.repeat_purchasers,
    CASE WHEN k.purchasers > 0 THEN k.repeat_purchasers * 1.0 / k.purchasers END AS repeat_purchase_rate
FROM kpi_run_member_periods k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run;

{{if .SQLite}}DROP VIEW kpi_cohort_retention;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_cohort_retention AS
SELECT k.programme_id, k.cohort, k.months_since, k.cohort_size, k.active,
    CASE WHEN k.cohort_size > 0 THEN k.active * 1.0 / k.cohort_size END AS retention
FROM kpi_run_cohorts k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run;

{{if .SQLite}}DROP VIEW kpi_segment_transitions;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_segment_transitions AS
SELECT k.programme_id, k.period, k.from_state AS from_segment, k.to_state AS to_segment, k.members,
    k.members * 1.0 / SUM(k.members) OVER (PARTITION BY k.programme_id, k.period, k.from_state) AS row_share
FROM kpi_run_transitions k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run
WHERE k.kind = 'segment';

{{if .SQLite}}DROP VIEW kpi_tier_transitions;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_tier_transitions AS
SELECT k.programme_id, k.period, k.from_state AS from_tier, k.to_state AS to_tier, k.members,
    k.members * 1.0 / SUM(k.members) OVER (PARTITION BY k.programme_id, k.period, k.from_state) AS row_share
FROM kpi_run_transitions k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run
WHERE k.kind = 'tier';

{{if .SQLite}}DROP VIEW kpi_churn_model;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_churn_model AS
SELECT k.programme_id, k.fitted_at, k.calibration_end, k.customers, k.r, k.alpha, k.a, k.b, k.log_likelihood, k.horizon_weeks
FROM kpi_run_churn_models k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.churn_run = k.run;

{{if .SQLite}}DROP VIEW kpi_churn_risk_members;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_churn_risk_members AS
SELECT k.programme_id, k.member_key, k.repeat_purchases, k.t_x_weeks, k.t_weeks, k.p_alive, k.expected_purchases
FROM kpi_run_churn_risk k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.churn_run = k.run;

DROP TABLE kpi_member_periods;
DROP TABLE kpi_cohorts;
DROP TABLE kpi_transitions;
DROP TABLE kpi_churn_models;
DROP TABLE kpi_churn_risk;

-- +goose Down
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
INSERT INTO kpi_member_periods SELECT k.programme_id, k.period, k.period_start, k.period_end, k.members_start, k.members_end,
    k.new_members, k.active_start, k.active_end, k.new_active_end, k.churned, k.purchasers, k.repeat_purchasers
FROM kpi_run_member_periods k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run;
INSERT INTO kpi_cohorts SELECT k.programme_id, k.cohort, k.months_since, k.cohort_size, k.active
FROM kpi_run_cohorts k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run;
INSERT INTO kpi_transitions SELECT k.programme_id, k.kind, k.period, k.from_state, k.to_state, k.members
FROM kpi_run_transitions k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run;
INSERT INTO kpi_churn_models SELECT k.programme_id, k.fitted_at, k.calibration_end, k.customers, k.r, k.alpha, k.a, k.b,
    k.log_likelihood, k.horizon_weeks
FROM kpi_run_churn_models k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.churn_run = k.run;
INSERT INTO kpi_churn_risk SELECT k.programme_id, k.member_id, k.member_key, k.repeat_purchases, k.t_x_weeks, k.t_weeks,
    k.p_alive, k.expected_purchases
FROM kpi_run_churn_risk k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.churn_run = k.run;

{{if .SQLite}}DROP VIEW kpi_members;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_members AS
SELECT programme_id, period, members_start, members_end, new_members, active_start, active_end, churned,
    CASE WHEN active_start > 0 THEN churned * 1.0 / active_start END AS churn_rate,
    CASE WHEN active_start > 0 THEN (active_end - new_active_end) * 1.0 / active_start END AS retention_rate,
    purchasers, repeat_purchasers,
    CASE WHEN purchasers > 0 THEN repeat_purchasers * 1.0 / purchasers END AS repeat_purchase_rate
FROM kpi_member_periods;

{{if .SQLite}}DROP VIEW kpi_cohort_retention;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_cohort_retention AS
SELECT programme_id, cohort, months_since, cohort_size, active,
    CASE WHEN cohort_size > 0 THEN active * 1.0 / cohort_size END AS retention
FROM kpi_cohorts;

{{if .SQLite}}DROP VIEW kpi_segment_transitions;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_segment_transitions AS
SELECT programme_id, period, from_state AS from_segment, to_state AS to_segment, members,
    members * 1.0 / SUM(members) OVER (PARTITION BY programme_id, period, from_state) AS row_share
FROM kpi_transitions WHERE kind = 'segment';

{{if .SQLite}}DROP VIEW kpi_tier_transitions;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_tier_transitions AS
SELECT programme_id, period, from_state AS from_tier, to_state AS to_tier, members,
    members * 1.0 / SUM(members) OVER (PARTITION BY programme_id, period, from_state) AS row_share
FROM kpi_transitions WHERE kind = 'tier';

{{if .SQLite}}DROP VIEW kpi_churn_model;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_churn_model AS
SELECT programme_id, fitted_at, calibration_end, customers, r, alpha, a, b, log_likelihood, horizon_weeks FROM kpi_churn_models;

{{if .SQLite}}DROP VIEW kpi_churn_risk_members;
CREATE VIEW{{else}}CREATE OR REPLACE VIEW{{end}} kpi_churn_risk_members AS
SELECT programme_id, member_key, repeat_purchases, t_x_weeks, t_weeks, p_alive, expected_purchases FROM kpi_churn_risk;

DROP TABLE kpi_run_churn_risk;
DROP TABLE kpi_run_churn_models;
DROP TABLE kpi_run_transitions;
DROP TABLE kpi_run_cohorts;
DROP TABLE kpi_run_member_periods;
DROP TABLE kpi_runs;
