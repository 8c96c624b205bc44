package host_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// grantsFile is the runtime role's grant script, generated from the
// migrations by TestGrantsScript (FIDELIS_UPDATE_GRANTS=1 rewrites it).
const grantsFile = "../../deploy/k8s/sql/grants.sql"

// runtimeRole is the role the script grants to.
const runtimeRole = "fidelis_app"

// schemaObjects migrates db (a fresh PostgreSQL schema) as its owner and
// lists what the migrations made: tables, views, and the tables an
// append-only trigger guards.
func schemaObjects(t *testing.T, db *sqldb.DB) (schema string, tables, views, appendOnly []string) {
	t.Helper()
	if err := host.Migrate(ctx(t), db.DSN, nil, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	schema = u.Query().Get("search_path")
	list := func(q string) []string {
		rows, err := db.QueryContext(ctx(t), q, schema)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	tables = list(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1`)
	views = list(`SELECT table_name FROM information_schema.views WHERE table_schema = $1 ORDER BY 1`)
	appendOnly = list(`SELECT DISTINCT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND NOT g.tgisinternal AND g.tgname LIKE '%append_only' ORDER BY 1`)
	return schema, tables, views, appendOnly
}

// grantScript is the runtime role's grants on what the migrations make:
// append-only tables (the ledger's entries, postings and lot moves, the
// audit: those a trigger guards on PostgreSQL) SELECT and INSERT, and
// UPDATE and DELETE revoked, which is what guards them on CockroachDB;
// the schema version tables read only (serve --migrate=false waits on
// them); views read only; every other table read and written.
func grantScript(tables, views, appendOnly []string) string {
	var versions, rest []string
	for _, tb := range tables {
		switch {
		case slices.Contains(appendOnly, tb):
		case strings.HasSuffix(tb, "_schema_version"):
			versions = append(versions, tb)
		default:
			rest = append(rest, tb)
		}
	}
	list := func(names []string) string { return strings.Join(names, ",\n    ") }
	var b strings.Builder
	fmt.Fprintf(&b, `-- Grants of the runtime role %[1]s (the Secret fidelis-db's dsn) on every
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
    %[2]s
  TO %[1]s;
REVOKE UPDATE, DELETE ON TABLE
    %[2]s
  FROM %[1]s;

-- Schema versions: read only (serve --migrate=false waits until they
-- report this build's migrations).
GRANT SELECT ON TABLE
    %[3]s
  TO %[1]s;
REVOKE INSERT, UPDATE, DELETE ON TABLE
    %[3]s
  FROM %[1]s;

-- Views (KPIs, settlement): read only.
GRANT SELECT ON TABLE
    %[4]s
  TO %[1]s;

-- State the services keep and update: members, lots, holds, rewards,
-- partners, keys, idempotency records (purged after their retention),
-- outbox and projections, leases of the scheduled jobs.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE
    %[5]s
  TO %[1]s;
`, runtimeRole, list(appendOnly), list(versions), list(views), list(rest))
	return b.String()
}

func postgres(t *testing.T) *sqldb.DB {
	t.Helper()
	if !slices.Contains(sqldbtest.Engines(), sqldb.Postgres) {
		t.Skip("PostgreSQL is not among the test engines")
	}
	return sqldbtest.Open(t, sqldb.Postgres)
}

// The grant script is current: generated from what the migrations make
// now, so a new table cannot ship without its grants.
func TestGrantsScript(t *testing.T) {
	db := postgres(t)
	_, tables, views, appendOnly := schemaObjects(t, db)
	for _, want := range []string{"ledger_entries", "ledger_postings", "ledger_lot_moves", "access_audit"} {
		if !slices.Contains(appendOnly, want) {
			t.Errorf("%s is not guarded by an append-only trigger", want)
		}
	}
	want := grantScript(tables, views, appendOnly)
	if os.Getenv("FIDELIS_UPDATE_GRANTS") == "1" {
		if err := os.WriteFile(grantsFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(grantsFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is stale: run FIDELIS_UPDATE_GRANTS=1 go test ./services/host -run TestGrantsScript and commit it", grantsFile)
	}
}

// The services run under the runtime role with only the grant script's
// privileges, as the manifests run them: --migrate=false (the Job
// migrated as the owner), the DSN from the environment. They start, serve
// the calls of every service, and run their jobs; the append-only tables
// refuse UPDATE and DELETE by privilege, not only by trigger.
func TestRuntimeRole(t *testing.T) {
	db := postgres(t)
	schema, _, _, _ := schemaObjects(t, db)
	script, err := os.ReadFile(grantsFile)
	if err != nil {
		t.Fatal(err)
	}
	role := fmt.Sprintf("fidelis_app_%d", time.Now().UnixNano())
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE ROLE ` + role + ` LOGIN`)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(c, `DROP OWNED BY `+role)
		_, _ = db.ExecContext(c, `DROP ROLE `+role)
	})
	exec(`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role)
	exec(strings.ReplaceAll(string(script), " "+runtimeRole+";", " "+role+";"))

	u, err := url.Parse(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	dsn := u.String()
	s := start(t, db, func(c *host.Config) {
		c.DB = dsn
		c.Migrate = false
		c.SchemaWait = 10 * time.Second
	})
	c := ctx(t)
	ops := s.conn(t, s.key(t, "ops", []string{"pos", "operator", "service"}))
	ledger := ledgerv1.NewLedgerServiceClient(ops)
	m := enrolWithPoints(t, ledger, "CARD-R", 900)
	held, err := ledger.Hold(c, &ledgerv1.HoldRequest{IdempotencyKey: "hold", MemberId: m, Points: 10, Channel: typev1.Channel_CHANNEL_POS})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Capture(c, &ledgerv1.CaptureRequest{IdempotencyKey: "cap", HoldId: held.GetHold().GetHoldId()}); err != nil {
		t.Fatal(err)
	}
	_, partnerKey := s.partner(t, "test")
	if _, err := partnersv1.NewPartnerServiceClient(s.conn(t, partnerKey)).LinkMember(c, &partnersv1.LinkMemberRequest{
		IdempotencyKey: "link", CardNumber: "CARD-R"}); err != nil {
		t.Fatal(err)
	}
	s.settle(t)
	_ = s.audit(t)
	// Every RPC, with the operator's key and an empty request: refused
	// as invalid or not found is fine, a privilege missing is not.
	for _, m := range s.methods(t) {
		err := invoke(c, ops, m, nil)
		if code := status.Code(err); code == codes.Internal || code == codes.Unknown {
			t.Errorf("%s under the runtime role: %v", m.full, err)
		}
	}
	if logs := string(s.logs.Bytes()); strings.Contains(logs, "permission denied") {
		t.Errorf("a privilege is missing:\n%s", logs)
	}

	// The ledger is append-only by privilege.
	as, err := sqldb.Open(c, dsn, sqldb.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	var col string
	if err := as.QueryRowContext(c, `SELECT column_name FROM information_schema.columns WHERE table_name = 'ledger_entries' LIMIT 1`).Scan(&col); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE ledger_entries SET ` + col + ` = ` + col, `DELETE FROM ledger_entries`, `DELETE FROM ledger_postings`,
		`DELETE FROM ledger_lot_moves`, `DELETE FROM access_audit`, `TRUNCATE ledger_entries`, `CREATE TABLE intruder (x int)`} {
		_, err := as.ExecContext(c, q)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s as the runtime role: %v, want permission denied", q, err)
		}
	}
}
