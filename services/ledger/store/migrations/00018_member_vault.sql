-- The members' personal data, apart from the ledger (issue 17; see
-- services/internal/pii and docs/ARCHITECTURE.md, "Members and personal
-- data"). Nothing here is readable without the master keys, which do not
-- live in the database: each member's data is sealed (AES-256-GCM) with a
-- data key of its own, stored here only wrapped by a master key. Erasing a
-- member deletes its rows here; its ledger rows keep only pseudonymous
-- amounts. Times are microseconds since the epoch.

-- +goose Up
-- A member's data key, wrapped by the master key master_id.
CREATE TABLE member_keys (
    member_id  TEXT NOT NULL PRIMARY KEY,
    master_id  TEXT NOT NULL,
    wrapped    {{.Bytes}} NOT NULL,
    created_at BIGINT NOT NULL
);
-- Rotation rewraps the keys of a retired master key.
CREATE INDEX member_keys_master ON member_keys (master_id, member_id);

-- A member's profile (name, e-mail addresses, phone numbers, birth date,
-- preferred store, language), sealed as one JSON document; version counts
-- its updates.
CREATE TABLE member_profiles (
    member_id  TEXT NOT NULL PRIMARY KEY,
    sealed     {{.Bytes}} NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A member's identifiers: card numbers, app ids, e-mail addresses, phone
-- numbers, several of each. lookup is the keyed hash (HMAC) of the kind
-- and the normalised value, what FindMember looks up; sealed the value,
-- so that the identifiers can be listed. A replaced identifier
-- (replaced_at > 0: a lost card) no longer resolves; its row is kept as
-- history, its lookup hash prefixed so that the same value can be given
-- again.
CREATE TABLE member_identifiers (
    identifier_id TEXT NOT NULL PRIMARY KEY,
    member_id     TEXT NOT NULL,
    programme_id  TEXT NOT NULL,
    kind          TEXT NOT NULL,
    lookup        {{.Bytes}} NOT NULL,
    sealed        {{.Bytes}} NOT NULL,
    created_at    BIGINT NOT NULL,
    replaced_at   BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT member_identifiers_lookup UNIQUE (programme_id, lookup)
);
CREATE INDEX member_identifiers_member ON member_identifiers (member_id, created_at);

-- Members erased (EraseMember): their keys, profile and identifiers are
-- gone, their ledger rows pseudonymous.
CREATE TABLE member_erasures (
    member_id TEXT NOT NULL PRIMARY KEY,
    erased_at BIGINT NOT NULL
);

-- Birthday events of earlier versions carried the birth date: no more.
UPDATE member_events SET detail = '' WHERE type = 'birthday' AND detail <> '';

-- +goose Down
DROP TABLE member_erasures;
DROP TABLE member_identifiers;
DROP TABLE member_profiles;
DROP TABLE member_keys;
