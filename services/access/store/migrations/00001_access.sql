-- Access schema (a template, see sqldb.SchemaTypes): who may call Fidelis
-- (principals and their API keys), the audit log, and failed
-- authentications counted per client address and minute. Times are
-- microseconds since the epoch (0: none). No secret is ever stored: a key
-- keeps the SHA-256 of its secret only.

-- +goose Up
CREATE TABLE access_principals (
    principal_id      TEXT PRIMARY KEY,
    -- Comma-separated, sorted.
    roles             TEXT NOT NULL,
    -- Comma-separated programme ids, or '*' for every programme.
    programmes        TEXT NOT NULL,
    partner_id        TEXT NOT NULL DEFAULT '',
    max_earn_points   BIGINT NOT NULL,
    max_adjust_points BIGINT NOT NULL,
    rate_limit        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    created_by        TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX access_principals_partner ON access_principals (partner_id) WHERE partner_id <> '';

CREATE TABLE access_keys (
    key_id       TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL,
    -- SHA-256 of the key's secret.
    secret_hash  {{.Bytes}} NOT NULL,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT NOT NULL,
    replaced_by  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX access_keys_principal ON access_keys (principal_id);

CREATE TABLE access_idempotency (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    method       TEXT NOT NULL,
    request_hash {{.Bytes}} NOT NULL,
    subject_id   TEXT NOT NULL,
    response     {{.Bytes}} NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key){{if .Cockroach}} USING HASH{{end}}
);

-- Every mutation and every call refused with PERMISSION_DENIED, in every
-- service, counted per second, principal, method, outcome and client
-- address (calls); append-only. audit_id is a UUIDv7, so its order is time
-- order (hash-sharded on CockroachDB so that appends spread over ranges).
CREATE TABLE access_audit (
    audit_id     TEXT NOT NULL,
    -- The start of the second.
    at           BIGINT NOT NULL,
    method       TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    on_behalf_of TEXT NOT NULL,
    decision     TEXT NOT NULL,
    code         TEXT NOT NULL,
    source       TEXT NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (audit_id){{if .Cockroach}} USING HASH{{end}}
);
CREATE INDEX access_audit_principal ON access_audit (principal_id, audit_id){{if .Cockroach}} USING HASH{{end}};
CREATE INDEX access_audit_on_behalf_of ON access_audit (on_behalf_of, audit_id){{if .Cockroach}} USING HASH{{end}} WHERE on_behalf_of <> '';

-- Failed authentications: one row per client address, reason and minute,
-- never one per attempt.
CREATE TABLE access_auth_failures (
    minute BIGINT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (minute, source, reason){{if .Cockroach}} USING HASH{{end}}
);

-- The audit log is append-only. (CockroachDB relies on the runtime role's
-- grants: SELECT and INSERT only, see deploy/k8s/README.md.)
{{if .Postgres -}}
-- +goose StatementBegin
CREATE FUNCTION access_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER access_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON access_audit
    FOR EACH STATEMENT EXECUTE FUNCTION access_append_only();
{{- end}}
{{if .SQLite -}}
-- +goose StatementBegin
CREATE TRIGGER access_audit_no_update BEFORE UPDATE ON access_audit
BEGIN SELECT RAISE(ABORT, 'access_audit is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER access_audit_no_delete BEFORE DELETE ON access_audit
BEGIN SELECT RAISE(ABORT, 'access_audit is append-only'); END;
-- +goose StatementEnd
{{- end}}

-- +goose Down
{{if .Postgres -}}
DROP FUNCTION access_append_only() CASCADE;
{{- end}}
DROP TABLE access_auth_failures;
DROP TABLE access_audit;
DROP TABLE access_idempotency;
DROP TABLE access_keys;
DROP TABLE access_principals;
