-- Grants of the runtime role fidelis_app (the Secret fidelis-db's dsn) on every
-- table and view the migrations make. GENERATED from the migrations by
--   FIDELIS_UPDATE_GRANTS=1 go test ./services/host -run TestGrantsScript
-- and checked by go test ./... (TestGrantsScript: the file is current;
-- TestRuntimeRole: the services run under exactly these grants on
-- PostgreSQL, and the append-only tables refuse UPDATE and DELETE).
--
-- Run it, as the schema owner (fidelis_migrator) or root, in database
-- fidelis after every fidelis migrate that adds tables:
--   cockroach sql --certs-dir=certs --host=... --database=fidelis -f grants.sql
--   psql "$MIGRATE_DSN" -f grants.sql
-- Roles first: see roles-cockroachdb.sql (deploy/k8s/README.md).

-- Append-only: the ledger's entries, postings and lot moves and the audit.
-- On PostgreSQL a trigger refuses UPDATE and DELETE too; on CockroachDB
-- these grants are the guard.
GRANT SELECT, INSERT ON TABLE
    access_audit,
    ledger_entries,
    ledger_lot_moves,
    ledger_postings
  TO fidelis_app;
REVOKE UPDATE, DELETE ON TABLE
    access_audit,
    ledger_entries,
    ledger_lot_moves,
    ledger_postings
  FROM fidelis_app;

-- Schema versions: read only (serve --migrate=false waits until they
-- report this build's migrations).
GRANT SELECT ON TABLE
    access_schema_version,
    lease_schema_version,
    ledger_schema_version,
    partners_schema_version,
    rewards_schema_version
  TO fidelis_app;
REVOKE INSERT, UPDATE, DELETE ON TABLE
    access_schema_version,
    lease_schema_version,
    ledger_schema_version,
    partners_schema_version,
    rewards_schema_version
  FROM fidelis_app;

-- Views (KPIs, settlement): read only.
GRANT SELECT ON TABLE
    kpi_churn_model,
    kpi_churn_models,
    kpi_churn_risk,
    kpi_churn_risk_members,
    kpi_cohort_retention,
    kpi_cohorts,
    kpi_identification,
    kpi_liability,
    kpi_member_periods,
    kpi_members,
    kpi_points,
    kpi_segment_distribution,
    kpi_segment_transitions,
    kpi_tier_distribution,
    kpi_tier_transitions,
    kpi_transitions,
    partner_settlement_monthly
  TO fidelis_app;

-- State the services keep and update: members, lots, holds, rewards,
-- partners, keys, idempotency records (purged after their retention),
-- outbox and projections, leases of the scheduled jobs.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE
    access_auth_failures,
    access_idempotency,
    access_keys,
    access_principals,
    consent_changes,
    consent_current,
    contact_exclusions,
    contact_state,
    fidelis_leases,
    kpi_programmes,
    kpi_run_churn_models,
    kpi_run_churn_risk,
    kpi_run_cohorts,
    kpi_run_member_periods,
    kpi_run_transitions,
    kpi_runs,
    ledger_anonymous_sales,
    ledger_holds,
    ledger_idempotency,
    ledger_lots,
    ledger_members,
    ledger_operations,
    ledger_outbox,
    ledger_secrets,
    marketing_contacts,
    member_erasures,
    member_events,
    member_identifiers,
    member_keys,
    member_profiles,
    member_purchases,
    member_status,
    member_transitions,
    partners_audit,
    partners_idempotency,
    partners_links,
    partners_offer_usage,
    partners_offers,
    partners_partners,
    partners_txns,
    projection_state,
    rewards_idempotency,
    rewards_member_usage,
    rewards_redemptions,
    rewards_rewards,
    rewards_vouchers,
    rfm_runs
  TO fidelis_app;
