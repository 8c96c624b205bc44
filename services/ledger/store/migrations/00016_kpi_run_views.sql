-- The tables the refreshed KPI views read before 00015 come back as views
-- of the current run, with the same columns, for whoever queried them
-- directly.

-- +goose Up
CREATE VIEW kpi_member_periods AS
SELECT k.programme_id, k.period, k.period_start, k.period_end, k.members_start, k.members_end, k.new_members, k.active_start,
    k.active_end, k.new_active_end, k.churned, k.purchasers, k.repeat_purchasers
FROM kpi_run_member_periods k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run;

CREATE VIEW kpi_cohorts AS
SELECT k.programme_id, k.cohort, k.months_since, k.cohort_size, k.active
FROM kpi_run_cohorts k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run;

CREATE VIEW kpi_transitions AS
SELECT k.programme_id, k.kind, k.period, k.from_state, k.to_state, k.members
FROM kpi_run_transitions k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.run = k.run;

CREATE VIEW kpi_churn_models AS
SELECT k.programme_id, k.fitted_at, k.calibration_end, k.customers, k.r, k.alpha, k.a, k.b, k.log_likelihood, k.horizon_weeks
FROM kpi_run_churn_models k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.churn_run = k.run;

CREATE VIEW kpi_churn_risk AS
SELECT k.programme_id, k.member_id, k.member_key, k.repeat_purchases, k.t_x_weeks, k.t_weeks, k.p_alive, k.expected_purchases
FROM kpi_run_churn_risk k JOIN kpi_programmes p ON p.programme_id = k.programme_id AND p.churn_run = k.run;

-- +goose Down
DROP VIEW kpi_churn_risk;
DROP VIEW kpi_churn_models;
DROP VIEW kpi_transitions;
DROP VIEW kpi_cohorts;
DROP VIEW kpi_member_periods;
