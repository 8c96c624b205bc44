package host_test

import (
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	accessstore "github.com/fidelis-loyalty/fidelis/services/access/store"
	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/lease"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	ledgerstore "github.com/fidelis-loyalty/fidelis/services/ledger/store"
	partnersstore "github.com/fidelis-loyalty/fidelis/services/partners/store"
	rewardsstore "github.com/fidelis-loyalty/fidelis/services/rewards/store"
)

// allSchemas are the migrations of every module; a new module adds its
// own here.
func allSchemas() []sqldb.Schema {
	return []sqldb.Schema{lease.Schema(), accessstore.Schema(), ledgerstore.Schema(), rewardsstore.Schema(), partnersstore.Schema()}
}

// migration is one rendered migration file.
type migration struct {
	name     string
	noTx     bool
	up, down []string // statements, comments and blank lines removed
}

func renderedMigrations(t *testing.T, d sqldb.Dialect) []migration {
	t.Helper()
	var out []migration
	for _, s := range allSchemas() {
		rendered, err := s.Render(d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(rendered, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			src, err := fs.ReadFile(rendered, name)
			if err != nil {
				t.Fatal(err)
			}
			text := string(src)
			m := migration{name: s.Table + "/" + name, noTx: strings.Contains(text, "-- +goose NO TRANSACTION\n")}
			up, down, ok := strings.Cut(text, "-- +goose Down")
			if !ok {
				t.Fatalf("%s: no -- +goose Down", m.name)
			}
			_, up, ok = strings.Cut(up, "-- +goose Up")
			if !ok {
				t.Fatalf("%s: no -- +goose Up", m.name)
			}
			m.up, m.down = statements(up), statements(down)
			out = append(out, m)
		}
	}
	return out
}

var lineComment = regexp.MustCompile(`--[^\n]*`)

// statements splits SQL without dollar-quoted bodies (there are none on
// CockroachDB: its rendering has no functions) into statements, each on
// one line.
func statements(sql string) []string {
	var out []string
	for _, s := range strings.Split(lineComment.ReplaceAllString(sql, ""), ";") {
		if s = strings.Join(strings.Fields(s), " "); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var (
	dropped = regexp.MustCompile(`^DROP (?:VIEW|TABLE|INDEX) (?:IF EXISTS )?(\w+)`)
	created = regexp.MustCompile(`^CREATE (?:OR REPLACE )?(?:UNIQUE )?(?:VIEW|TABLE|INDEX) (?:IF NOT EXISTS )?(\w+)`)

	// What a migration outside a transaction may do: statements that can
	// run again after a crash left it half done.
	rerunnable = []*regexp.Regexp{
		regexp.MustCompile(`^ALTER TABLE \w+ ADD COLUMN IF NOT EXISTS `),
		regexp.MustCompile(`^ALTER TABLE \w+ DROP COLUMN IF EXISTS `),
		regexp.MustCompile(`^CREATE (?:UNIQUE )?INDEX IF NOT EXISTS `),
		regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS `),
		regexp.MustCompile(`^DROP (?:INDEX|VIEW|TABLE) IF EXISTS `),
		// An UPDATE that sets what it would set again (a backfill).
		regexp.MustCompile(`^UPDATE `),
	}
	createView = regexp.MustCompile(`^CREATE VIEW (\w+)`)

	tableDef  = regexp.MustCompile(`^CREATE TABLE (?:IF NOT EXISTS )?(\w+) \((.*)\)`)
	indexDef  = regexp.MustCompile(`^CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?(\w+) ON \w+ \(([^)]*)\)( USING HASH)?`)
	columnPK  = regexp.MustCompile(`(?:^|, )(\w+) [^,]*?PRIMARY KEY( USING HASH)?`)
	tablePK   = regexp.MustCompile(`(?:PRIMARY KEY|UNIQUE|UNIQUE INDEX \w+) \(([^)]*)\)( USING HASH)?`)
	timeOrder = regexp.MustCompile(`(?:_at|^at|_until|^minute|^position|^(?:entry|lot|hold|transition|txn|redemption|audit|source_entry|origin_entry|reverses_entry)_id)$`)
)

// Columns that a key may start with and still append at its tail when the
// next column grows with time: few values, each with many rows.
var fewValues = []string{"programme_id", "partner_id", "kind", "status", "principal", "principal_id", "on_behalf_of", "caller"}

// Keys that grow with time and are left unsharded, with why.
var unsharded = map[string]string{
	"rfm_runs":                  "a row per programme per RFM run: a few a day",
	"rfm_runs_programme":        "a row per programme per RFM run: a few a day",
	"ledger_operations":         "a row per long-running admin operation: rare",
	"partners_offers":           "offers are created by hand",
	"access_auth_failures.pkey": "",
}

// The SQL of every migration as CockroachDB runs it is SQL it accepts and
// runs well, checked on the text (no cluster here; FIDELIS_TEST_COCKROACH
// runs every store test on one):
//   - nothing it lacks: triggers, functions, fillfactor;
//   - no name dropped and created in one transaction, which it refuses;
//   - a migration outside a transaction ({{.NoTransaction}}) can run
//     again from the start after a crash half way: each statement is one
//     that can run twice;
//   - keys that grow with time (UUIDv7 ids, times, positions, after
//     columns of few values) are hash-sharded, so that inserts do not all
//     go to one range.
func TestCockroachSQL(t *testing.T) {
	for _, m := range renderedMigrations(t, sqldb.Cockroach) {
		for dir, stmts := range map[string][]string{"up": m.up, "down": m.down} {
			all := strings.Join(stmts, ";\n")
			for _, bad := range []string{"TRIGGER", "FUNCTION", "plpgsql", "fillfactor", "to_char("} {
				if strings.Contains(all, bad) {
					t.Errorf("%s %s: %q, which CockroachDB does not have", m.name, dir, bad)
				}
			}
			var drops, creates []string
			for _, s := range stmts {
				if d := dropped.FindStringSubmatch(s); d != nil {
					drops = append(drops, d[1])
				}
				if c := created.FindStringSubmatch(s); c != nil {
					creates = append(creates, c[1])
				}
			}
			if !m.noTx {
				for _, name := range drops {
					if slices.Contains(creates, name) {
						t.Errorf("%s %s: drops and creates %s in one transaction, which CockroachDB refuses: use {{.NoTransaction}} or two migrations", m.name, dir, name)
					}
				}
				continue
			}
			for i, s := range stmts {
				ok := slices.ContainsFunc(rerunnable, func(re *regexp.Regexp) bool { return re.MatchString(s) })
				if v := createView.FindStringSubmatch(s); v != nil {
					ok = slices.Contains(stmts[:i], "DROP VIEW IF EXISTS "+v[1])
				}
				if !ok {
					t.Errorf("%s %s, outside a transaction: %.80q cannot run again after a crash", m.name, dir, s)
				}
			}
		}
		for _, s := range m.up {
			for _, p := range shardingProblems(s) {
				t.Errorf("%s: %s", m.name, p)
			}
		}
	}
}

// shardingProblems are the keys that a CREATE TABLE or CREATE INDEX s
// makes that grow with time and are not hash-sharded.
func shardingProblems(s string) []string {
	var problems []string
	check := func(name, cols string, hashed bool) {
		var key []string
		for _, c := range strings.Split(cols, ",") {
			key = append(key, strings.Fields(c)[0])
		}
		lead := 0
		for lead < len(key)-1 && slices.Contains(fewValues, key[lead]) {
			lead++
		}
		if _, ok := unsharded[name]; ok || hashed || !timeOrder.MatchString(key[lead]) {
			return
		}
		problems = append(problems, fmt.Sprintf("%s on (%s) grows with time (%s): hash-shard it on CockroachDB ({{if .Cockroach}} USING HASH{{end}}) or say in unsharded why not",
			name, cols, key[lead]))
	}
	if d := indexDef.FindStringSubmatch(s); d != nil {
		check(d[1], d[2], d[3] != "")
		return problems
	}
	d := tableDef.FindStringSubmatch(s)
	if d == nil {
		return nil
	}
	table, body := d[1], d[2]
	if c := columnPK.FindStringSubmatch(body); c != nil {
		check(table, c[1], c[2] != "")
	}
	for _, k := range tablePK.FindAllStringSubmatch(body, -1) {
		check(table, k[1], k[2] != "")
	}
	return problems
}

// The checks above do find what they look for.
func TestCockroachSQLChecks(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want bool // a sharding complaint
	}{
		{"CREATE TABLE e (entry_id TEXT PRIMARY KEY, n INT)", true},
		{"CREATE TABLE e (entry_id TEXT PRIMARY KEY USING HASH, n INT)", false},
		{"CREATE TABLE p (entry_id TEXT NOT NULL, account TEXT, PRIMARY KEY (entry_id, account))", true},
		{"CREATE TABLE m (member_id TEXT, seq BIGINT, PRIMARY KEY (member_id, seq))", false},
		{"CREATE INDEX i ON e (programme_id, occurred_at)", true},
		{"CREATE INDEX i ON e (programme_id, occurred_at) USING HASH", false},
		{"CREATE INDEX i ON e (member_id, at)", false},
		{"CREATE TABLE u (a TEXT, b BIGINT, CONSTRAINT u_b UNIQUE (programme_id, recorded_at))", true},
		{"CREATE TABLE u (a TEXT, UNIQUE INDEX u_a (redemption_id))", true},
		{"CREATE TABLE u (a TEXT, UNIQUE INDEX u_a (redemption_id) USING HASH)", false},
	} {
		if complained := len(shardingProblems(tc.sql)) > 0; complained != tc.want {
			t.Errorf("%s: complaint %v, want %v", tc.sql, complained, tc.want)
		}
	}
	if got := statements("-- c\nDROP VIEW IF EXISTS v;\nCREATE VIEW v AS\n  SELECT 1; -- x\n"); !slices.Equal(got, []string{"DROP VIEW IF EXISTS v", "CREATE VIEW v AS SELECT 1"}) {
		t.Errorf("statements: %q", got)
	}
}

// A migration that CockroachDB runs outside a transaction can run again,
// statement by statement, after it ran: tried here on PostgreSQL, whose
// rendering is the same statements (without USING HASH), on a database
// migrated to the end.
func TestMigrationsRunAgain(t *testing.T) {
	db := postgres(t)
	if err := host.Migrate(ctx(t), db.DSN, nil, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	pg := map[string]migration{}
	for _, m := range renderedMigrations(t, sqldb.Postgres) {
		pg[m.name] = m
	}
	again := 0
	for _, m := range renderedMigrations(t, sqldb.Cockroach) {
		if !m.noTx {
			continue
		}
		again++
		for _, s := range pg[m.name].up {
			if _, err := db.ExecContext(ctx(t), s); err != nil {
				t.Errorf("%s again: %.60q: %v", m.name, s, err)
			}
		}
	}
	if again < 10 {
		t.Errorf("ran %d migrations again; there are more outside a transaction on CockroachDB", again)
	}
}
