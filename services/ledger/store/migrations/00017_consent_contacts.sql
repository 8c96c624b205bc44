-- Consents and contact pressure (ConsentService). Member ids only: no
-- personal data. Times are microseconds since the epoch.

-- +goose Up
-- Every consent change, never updated or deleted: the history.
CREATE TABLE consent_changes (
    change_id    TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    member_id    TEXT NOT NULL,
    programme_id TEXT NOT NULL,
    -- marketing, partner_marketing or profiling.
    purpose      TEXT NOT NULL,
    -- email, sms, push or post for marketing; '' for the other purposes.
    channel      TEXT NOT NULL,
    granted      BOOLEAN NOT NULL,
    -- enrolment, store, web, app, customer_service, unsubscribe, import.
    source       TEXT NOT NULL,
    -- The version of the text agreed to.
    text_version TEXT NOT NULL,
    -- The principal that recorded it.
    actor        TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX consent_changes_member ON consent_changes (member_id, recorded_at, change_id){{if .Cockroach}} USING HASH{{end}};

-- The current consent per member, purpose and channel: the last change,
-- written with it. No row: never given (withheld).
CREATE TABLE consent_current (
    member_id  TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    channel    TEXT NOT NULL,
    granted    BOOLEAN NOT NULL,
    change_id  TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, purpose, channel){{if .Cockroach}} USING HASH{{end}}
){{if .Postgres}} WITH (fillfactor = 70){{end}};

-- One row per member ever claimed: the row every claim for the member
-- locks first (upserts), so that concurrent claims for a member run one
-- after the other.
CREATE TABLE contact_state (
    member_id    TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    programme_id TEXT NOT NULL,
    claimed_at   BIGINT NOT NULL
){{if .Postgres}} WITH (fillfactor = 70){{end}};

-- Every marketing contact claimed, once per member, campaign and channel.
CREATE TABLE marketing_contacts (
    contact_id   TEXT PRIMARY KEY{{if .Cockroach}} USING HASH{{end}},
    member_id    TEXT NOT NULL,
    programme_id TEXT NOT NULL,
    channel      TEXT NOT NULL,
    scenario     TEXT NOT NULL,
    campaign_id  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    contacted_at BIGINT NOT NULL,
    CONSTRAINT marketing_contacts_campaign UNIQUE (member_id, campaign_id, channel)
);
CREATE INDEX marketing_contacts_member ON marketing_contacts (member_id, contacted_at){{if .Cockroach}} USING HASH{{end}};

-- Reasons a member is not contacted (an open complaint), until ends_at
-- (0: until cleared).
CREATE TABLE contact_exclusions (
    member_id TEXT NOT NULL,
    reason    TEXT NOT NULL,
    ends_at   BIGINT NOT NULL,
    set_at    BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    PRIMARY KEY (member_id, reason){{if .Cockroach}} USING HASH{{end}}
);

-- The partner consent given at enrolment (ledger_members.partner_consent)
-- becomes the first change of the partner marketing consent.
INSERT INTO consent_changes (change_id, member_id, programme_id, purpose, channel, granted, source, text_version, actor, occurred_at, recorded_at)
SELECT 'enrolment-' || member_id, member_id, programme_id, 'partner_marketing', '', TRUE, 'enrolment', 'enrolment', 'migration', enrolled_at, enrolled_at
FROM ledger_members WHERE partner_consent;
INSERT INTO consent_current (member_id, purpose, channel, granted, change_id, changed_at)
SELECT member_id, 'partner_marketing', '', TRUE, 'enrolment-' || member_id, enrolled_at
FROM ledger_members WHERE partner_consent;

-- +goose Down
DROP TABLE contact_exclusions;
DROP TABLE marketing_contacts;
DROP TABLE contact_state;
DROP TABLE consent_current;
DROP TABLE consent_changes;
