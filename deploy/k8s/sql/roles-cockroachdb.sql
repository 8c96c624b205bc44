-- The two roles of a Fidelis database on CockroachDB. Run once as root,
-- after job/cockroachdb-init has created the database, replacing the two
-- passwords (put the same ones in Secret fidelis-db: dsn, migrate-dsn):
--   cockroach sql --certs-dir=certs --host=localhost:26257 -f roles-cockroachdb.sql
-- Then let Job fidelis-migrate run (as fidelis_migrator) and run grants.sql
-- (generated from the migrations) for the runtime role. The pods wait at
-- start until the migrations have run; the grants must follow the
-- migrations, so run grants.sql after every fidelis migrate that adds
-- tables (its comment says how). PostgreSQL is the same with CREATE ROLE
-- ... LOGIN PASSWORD and GRANT CREATE, USAGE ON SCHEMA public.
CREATE DATABASE IF NOT EXISTS fidelis;

-- Schema owner: used only by the fidelis-migrate Job (migrate-dsn). It
-- creates, and so owns, every table; it is not an admin.
CREATE USER IF NOT EXISTS fidelis_migrator WITH PASSWORD 'REPLACE-migrator-password';
GRANT CONNECT, CREATE ON DATABASE fidelis TO fidelis_migrator;
GRANT CREATE, USAGE ON SCHEMA fidelis.public TO fidelis_migrator;

-- Runtime role of every service (dsn): no DDL, owns nothing, never admin,
-- never ALL. Its table privileges are grants.sql's.
CREATE USER IF NOT EXISTS fidelis_app WITH PASSWORD 'REPLACE-app-password';
GRANT CONNECT ON DATABASE fidelis TO fidelis_app;
GRANT USAGE ON SCHEMA fidelis.public TO fidelis_app;

-- Check: fidelis_app holds no privilege beyond grants.sql's.
-- SHOW GRANTS FOR fidelis_app;
