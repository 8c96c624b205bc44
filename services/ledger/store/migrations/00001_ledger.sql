-- Ledger schema. A template (see sqldb.SchemaTypes): one file for SQLite,
-- PostgreSQL and CockroachDB. Times are microseconds since the Unix epoch
-- (0: none); points are integers; money is an exact decimal.
--
-- No foreign keys: under SERIALIZABLE, PostgreSQL's checks of them read the
-- referenced index pages that every concurrent transaction is appending to,
-- which turns unrelated transactions into serialization failures. The app
-- writes each transaction's rows together, and the invariant tests check
-- that every reference resolves. Tables that are updated leave room on each
-- page (fillfactor) so that updates stay HOT and touch no index.
--
-- On CockroachDB, keys that grow with time are hash-sharded (USING HASH):
-- ids are UUIDv7s, whose first bits are the time, and an index on
-- (programme_id, occurred_at) appends at its tail; in key order, every
-- insert would go to the last range of the table or index, one node's,
-- which no range split relieves. Hashed into 16 shards, the inserts spread
-- over 16 ranges, at the cost of a scan in key order visiting every shard.
-- Member ids are hashed too: card numbers are often issued in sequence.

-- +goose Up
CREATE TABLE ledger_members (
    member_id       TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    programme_id    TEXT NOT NULL,
    external_ref    TEXT NOT NULL,
    birth_date      TEXT NOT NULL DEFAULT '',
    partner_consent BOOLEAN NOT NULL DEFAULT FALSE,
    enrolled_at     BIGINT NOT NULL,
    available       BIGINT NOT NULL,
    pending         BIGINT NOT NULL CHECK (pending >= 0),
    held            BIGINT NOT NULL CHECK (held >= 0),
    debt            BIGINT NOT NULL CHECK (debt >= 0),
    lifetime_earned BIGINT NOT NULL,
    lifetime_burned BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    -- When a pending lot, a lot's expiry or a hold next falls due (0: never).
    next_due_at     BIGINT NOT NULL,
    -- The tier as last projected (member_status); it prices purchase points.
    tier            TEXT NOT NULL DEFAULT '',
    updated_at      BIGINT NOT NULL,
    CONSTRAINT ledger_members_external_ref UNIQUE (programme_id, external_ref)
){{if .Postgres}} WITH (fillfactor = 70){{end}};
CREATE INDEX ledger_members_due ON ledger_members (next_due_at){{if .Cockroach}} USING HASH{{end}} WHERE next_due_at > 0;

-- One row per ledger transaction; never updated or deleted.
CREATE TABLE ledger_entries (
    entry_id          TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    member_id         TEXT NOT NULL,
    programme_id      TEXT NOT NULL,
    seq               BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    points            BIGINT NOT NULL,
    base_points       BIGINT NOT NULL DEFAULT 0,
    tier              TEXT NOT NULL DEFAULT '',
    available_after   BIGINT NOT NULL,
    pending_after     BIGINT NOT NULL,
    held_after        BIGINT NOT NULL,
    channel           TEXT NOT NULL DEFAULT '',
    store_id          TEXT NOT NULL DEFAULT '',
    order_ref         TEXT NOT NULL DEFAULT '',
    purchase_amount   {{.Decimal}},
    purchase_currency TEXT,
    uncollected       BIGINT NOT NULL DEFAULT 0,
    reason            TEXT NOT NULL DEFAULT '',
    operator          TEXT NOT NULL DEFAULT '',
    reverses_entry_id TEXT,
    hold_id           TEXT,
    occurred_at       BIGINT NOT NULL,
    recorded_at       BIGINT NOT NULL,
    config_version    BIGINT NOT NULL,
    caller            TEXT NOT NULL DEFAULT '',
    partner_id        TEXT NOT NULL DEFAULT '',
    CONSTRAINT ledger_entries_member_seq UNIQUE (member_id, seq)
);
CREATE INDEX ledger_entries_reverses ON ledger_entries (reverses_entry_id){{if .Cockroach}} USING HASH{{end}} WHERE reverses_entry_id IS NOT NULL;
CREATE INDEX ledger_entries_programme_occurred ON ledger_entries (programme_id, occurred_at){{if .Cockroach}} USING HASH{{end}};

-- The double-entry legs: the postings of an entry sum to zero.
CREATE TABLE ledger_postings (
    entry_id TEXT NOT NULL,
    account  TEXT NOT NULL,
    amount   BIGINT NOT NULL,
    PRIMARY KEY (entry_id, account){{if .Cockroach}} USING HASH{{end}}
);

CREATE TABLE ledger_lots (
    lot_id          TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    member_id       TEXT NOT NULL,
    source_entry_id TEXT NOT NULL,
    points          BIGINT NOT NULL,
    remaining       BIGINT NOT NULL CHECK (remaining >= 0),
    pending         BOOLEAN NOT NULL,
    available_at    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
){{if .Postgres}} WITH (fillfactor = 80){{end}};
CREATE INDEX ledger_lots_open ON ledger_lots (member_id) WHERE remaining > 0 OR pending;
CREATE INDEX ledger_lots_source ON ledger_lots (source_entry_id){{if .Cockroach}} USING HASH{{end}};

-- Points entering (+) or leaving (-) a lot; a lot's remaining is their sum.
CREATE TABLE ledger_lot_moves (
    entry_id        TEXT NOT NULL,
    lot_id          TEXT NOT NULL,
    origin_entry_id TEXT NOT NULL,
    points          BIGINT NOT NULL,
    PRIMARY KEY (entry_id, lot_id, origin_entry_id){{if .Cockroach}} USING HASH{{end}}
);
CREATE INDEX ledger_lot_moves_origin ON ledger_lot_moves (origin_entry_id){{if .Cockroach}} USING HASH{{end}};

CREATE TABLE ledger_holds (
    hold_id    TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    member_id  TEXT NOT NULL,
    entry_id   TEXT NOT NULL,
    points     BIGINT NOT NULL,
    captured   BIGINT NOT NULL,
    released   BIGINT NOT NULL,
    status     TEXT NOT NULL,
    reference  TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
){{if .Postgres}} WITH (fillfactor = 80){{end}};
CREATE INDEX ledger_holds_active ON ledger_holds (member_id) WHERE status = 'active';

CREATE TABLE ledger_idempotency (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    method       TEXT NOT NULL,
    request_hash {{.Bytes}} NOT NULL,
    response     {{.Bytes}} NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key){{if .Cockroach}} USING HASH{{end}}
);

{{if .Postgres -}}
-- Append-only: entries, postings and lot moves are never changed. (On
-- CockroachDB, grant the service role INSERT and SELECT only: see
-- deploy/k8s/README.md.)
-- +goose StatementBegin
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_lot_moves_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_lot_moves
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
{{- end}}
{{if .SQLite -}}
-- +goose StatementBegin
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_lot_moves_no_update BEFORE UPDATE ON ledger_lot_moves
BEGIN SELECT RAISE(ABORT, 'ledger_lot_moves is append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER ledger_lot_moves_no_delete BEFORE DELETE ON ledger_lot_moves
BEGIN SELECT RAISE(ABORT, 'ledger_lot_moves is append-only'); END;
-- +goose StatementEnd
{{- end}}

-- +goose Down
{{if .Postgres -}}
DROP FUNCTION ledger_append_only() CASCADE;
{{- end}}
DROP TABLE ledger_idempotency;
DROP TABLE ledger_holds;
DROP TABLE ledger_lot_moves;
DROP TABLE ledger_lots;
DROP TABLE ledger_postings;
DROP TABLE ledger_entries;
DROP TABLE ledger_members;
