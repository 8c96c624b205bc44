-- The partners' key hashes live in access_keys now (00004). A migration of
-- its own: CockroachDB does not mix a schema change with writes in one
-- transaction.

-- +goose Up
ALTER TABLE partners_partners DROP COLUMN key_hash;

-- +goose Down
ALTER TABLE partners_partners ADD COLUMN key_hash {{.Bytes}} NOT NULL DEFAULT '';
