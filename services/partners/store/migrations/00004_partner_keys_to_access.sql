-- Partners authenticate with the same API keys as every other principal
-- (the access service's tables, migrated before this). Each partner
-- becomes the principal "partner:<partner id>" (role partner, bound to its
-- programme), and its key, "<partner id>.<secret>", keeps working: its
-- hash moves to access_keys with the partner id as key id. The old audit
-- table stays as it was; new audit records go to access_audit.

-- +goose Up
INSERT INTO access_principals (principal_id, roles, programmes, partner_id, max_earn_points, max_adjust_points,
    rate_limit, created_at, created_by, updated_at)
SELECT 'partner:' || partner_id, 'partner', programme_id, partner_id, 0, 0, 0, created_at, 'migration', created_at
FROM partners_partners WHERE TRUE -- (SQLite needs a WHERE before ON CONFLICT)
ON CONFLICT (principal_id) DO NOTHING;

INSERT INTO access_keys (key_id, principal_id, secret_hash, created_at, created_by, expires_at, revoked_at, replaced_by)
SELECT partner_id, 'partner:' || partner_id, key_hash, created_at, 'migration', 0, 0, ''
FROM partners_partners WHERE TRUE -- (SQLite needs a WHERE before ON CONFLICT)
ON CONFLICT (key_id) DO NOTHING;

-- +goose Down
DELETE FROM access_keys WHERE key_id IN (SELECT partner_id FROM partners_partners);
DELETE FROM access_principals WHERE principal_id IN (SELECT 'partner:' || partner_id FROM partners_partners);
