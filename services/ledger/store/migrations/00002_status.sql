-- Derived state: tier status, purchase history, RFM segments, transitions
-- and the member event stream, projected from the ledger's entries. The
-- projector reads the outbox, applies a member's new entries in sequence
-- order, and stores its checkpoint (member_status.projected_seq) in the same
-- transaction, so the projections can be dropped and rebuilt from the
-- entries with the same result. Amounts are scaled integers (millionths of
-- the programme's currency), exact on every engine.

-- +goose Up
CREATE TABLE ledger_outbox (
    entry_id    TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    member_id   TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX ledger_outbox_recorded ON ledger_outbox (recorded_at){{if .Cockroach}} USING HASH{{end}};

CREATE TABLE member_status (
    member_id         TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    programme_id      TEXT NOT NULL,
    projected_seq     BIGINT NOT NULL,
    tier              TEXT NOT NULL,
    tier_since        BIGINT NOT NULL,
    tier_valid_until  BIGINT NOT NULL,
    tier_floor        TEXT NOT NULL,
    first_purchase_at BIGINT NOT NULL,
    last_purchase_at  BIGINT NOT NULL,
    purchases         BIGINT NOT NULL,
    spend_micros      BIGINT NOT NULL,
    r_score           INTEGER NOT NULL,
    f_score           INTEGER NOT NULL,
    m_score           INTEGER NOT NULL,
    segment           TEXT NOT NULL,
    segment_since     BIGINT NOT NULL
);
CREATE INDEX member_status_tier_due ON member_status (tier_valid_until){{if .Cockroach}} USING HASH{{end}} WHERE tier_valid_until > 0;
CREATE INDEX member_status_programme ON member_status (programme_id);

-- One row per purchase earn (positive) and per clawback (negative):
-- qualifies_at is when the purchase happened (returns count against it),
-- occurred_at when this row's event happened.
CREATE TABLE member_purchases (
    member_id     TEXT NOT NULL,
    entry_id      TEXT NOT NULL,
    programme_id  TEXT NOT NULL,
    occurred_at   BIGINT NOT NULL,
    qualifies_at  BIGINT NOT NULL,
    recorded_at   BIGINT NOT NULL,
    spend_micros  BIGINT NOT NULL,
    status_points BIGINT NOT NULL,
    points        BIGINT NOT NULL,
    PRIMARY KEY (member_id, entry_id)
);
CREATE INDEX member_purchases_programme_occurred ON member_purchases (programme_id, occurred_at){{if .Cockroach}} USING HASH{{end}};

CREATE TABLE member_transitions (
    transition_id TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    member_id     TEXT NOT NULL,
    programme_id  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    from_state    TEXT NOT NULL,
    to_state      TEXT NOT NULL,
    at            BIGINT NOT NULL,
    cause         TEXT NOT NULL
);
CREATE INDEX member_transitions_member ON member_transitions (member_id, at);
CREATE INDEX member_transitions_programme ON member_transitions (programme_id, kind, at){{if .Cockroach}} USING HASH{{end}};

-- The stream WatchEvents serves. Positions are given under the lock of the
-- projection_state row 'member_events', so they grow in commit order.
CREATE TABLE member_events (
    position     BIGINT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    event_id     TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    programme_id TEXT NOT NULL,
    type         TEXT NOT NULL,
    at           BIGINT NOT NULL,
    entry_id     TEXT NOT NULL,
    points       BIGINT NOT NULL,
    from_state   TEXT NOT NULL,
    to_state     TEXT NOT NULL,
    detail       TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    CONSTRAINT member_events_event_id UNIQUE (event_id)
);

CREATE TABLE projection_state (
    name     TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
INSERT INTO projection_state (name, position) VALUES ('member_events', 0);

-- RFM runs, replayed in order by a rebuild.
CREATE TABLE rfm_runs (
    run_id       TEXT PRIMARY KEY,
    programme_id TEXT NOT NULL,
    as_of        BIGINT NOT NULL,
    computed_at  BIGINT NOT NULL,
    scored       BIGINT NOT NULL,
    changed      BIGINT NOT NULL
);
CREATE INDEX rfm_runs_programme ON rfm_runs (programme_id, computed_at);

-- +goose Down
DROP TABLE rfm_runs;
DROP TABLE projection_state;
DROP TABLE member_events;
DROP TABLE member_transitions;
DROP TABLE member_purchases;
DROP TABLE member_status;
DROP TABLE ledger_outbox;
