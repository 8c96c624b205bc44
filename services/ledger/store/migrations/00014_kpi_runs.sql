-- KPI refresh runs. A refresh writes its rows under a new run id, in
-- transactions of a few thousand rows, while BI keeps reading the current
-- run; then one small transaction switches kpi_programmes.run (and
-- churn_run, when the refresh fitted a model) to it, and the superseded
-- runs are deleted afterwards, a chunk at a time. So BI sees the whole of
-- one refresh or the whole of the next, never a mix, and no transaction
-- spans a programme's members.
--
-- The refreshed figures move to kpi_run_* tables keyed by run; the BI
-- views keep their names and columns and read the current run. PostgreSQL
-- and CockroachDB replace them in place, which keeps the grants BI reads
-- them with. The tables they read before become views of the current run,
-- with the same columns, for whoever queried them directly.

-- This migration adds the run pointers; 00015 moves the figures to the
-- run tables and points the views at the current run; 00016 turns the old
-- table names into views (00015 drops those tables and 00016 creates the
-- views under their names: CockroachDB cannot create a name dropped in
-- the same transaction). Outside a transaction on CockroachDB, like the
-- other migrations that add a column with a default: it backfills it in a
-- schema-change job of its own. Each statement can run again.

{{.NoTransaction}}
-- +goose Up
ALTER TABLE kpi_programmes {{.AddColumn}} run BIGINT NOT NULL DEFAULT 0;
-- The run whose churn model and risks are current: a refresh that finds no
-- purchase keeps the last model, as before.
ALTER TABLE kpi_programmes {{.AddColumn}} churn_run BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE kpi_programmes {{.DropColumn}} churn_run;
ALTER TABLE kpi_programmes {{.DropColumn}} run;
