-- +goose Up
-- One row per job that runs once per cluster: who holds it, until when,
-- and its fencing token, raised at every change of holder.
CREATE TABLE fidelis_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE fidelis_leases;
