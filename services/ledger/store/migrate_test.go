package store

import (
	"context"
	"io/fs"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// A database created before purchases said whether they were returns
// upgrades with its purchases and clawbacks told apart as they were read
// before: by the sign of their amounts.
func TestMigratePurchaseReturns(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		old := fstest.MapFS{}
		for _, name := range []string{"migrations/00001_ledger.sql", "migrations/00002_status.sql"} {
			b, err := fs.ReadFile(migrations, name)
			if err != nil {
				t.Fatal(err)
			}
			old[name] = &fstest.MapFile{Data: b}
		}
		if err := db.Migrate(ctx, old, "migrations", "ledger_schema_version", log); err != nil {
			t.Fatal(err)
		}
		rows := []struct {
			entry                      string
			spend, statusPoints, point int64
			isReturn                   bool
		}{
			{"purchase", 25_000_000, 25, 25, false},
			{"bonus-only", 0, 10, 10, false},
			{"return", -10_000_000, -10, -10, true},
			{"return-points-only", 0, 0, -5, true},
		}
		for _, r := range rows {
			if _, err := db.ExecContext(ctx, `INSERT INTO member_purchases
				(member_id, entry_id, programme_id, occurred_at, qualifies_at, recorded_at, spend_micros, status_points, points)
				VALUES ('m1', $1, 'p', 1, 1, 1, $2, $3, $4)`, r.entry, r.spend, r.statusPoints, r.point); err != nil {
				t.Fatal(err)
			}
		}
		if err := Migrate(ctx, db, log); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			var got bool
			if err := db.QueryRowContext(ctx, `SELECT is_return FROM member_purchases WHERE entry_id = $1`, r.entry).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != r.isReturn {
				t.Errorf("%s: is_return = %v, want %v", r.entry, got, r.isReturn)
			}
		}
	})
}

// A reply stored before replies were kept in idem's form (and hashed
// with versions) still replays after the upgrade: its hash as version 1,
// its response as idem's stored reply.
func TestMigrateIdempotencyReplies(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		old := migrationsBefore(t, "00009")
		if err := db.Migrate(ctx, old, "migrations", "ledger_schema_version", log); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO ledger_idempotency (caller, idem_key, method, request_hash, response, created_at)
			VALUES ('pos', 'k1', 'Earn', $1, $2, 1)`, []byte{1, 2, 3}, []byte(`{"Entry":{"ID":"e-1"}}`)); err != nil {
			t.Fatal(err)
		}
		if err := Migrate(ctx, db, log); err != nil {
			t.Fatal(err)
		}
		k := idem.Key{Caller: "pos", Key: "k1"}
		got, err := NewPosting(db).Replies(ctx, []idem.Key{k})
		if err != nil {
			t.Fatal(err)
		}
		rec := got[k]
		if rec.HashVersion != 1 || rec.Method != "Earn" || string(rec.Hash) != "\x01\x02\x03" {
			t.Fatalf("legacy record read as %+v", rec)
		}
		type reply struct{ Entry struct{ ID string } }
		r, err := idem.DecodeReply[reply](rec.Response)
		if err != nil || r.Entry.ID != "e-1" {
			t.Fatalf("legacy reply decodes as %+v, %v", r, err)
		}
	})
}

// KPIs refreshed before runs existed stay what BI reads after the upgrade
// (as run 0), through the same views and the old table names.
func TestMigrateKPIRuns(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		entries, err := fs.ReadDir(migrations, "migrations")
		if err != nil {
			t.Fatal(err)
		}
		old := fstest.MapFS{}
		for _, e := range entries {
			if e.Name() >= "00014" {
				break
			}
			b, err := fs.ReadFile(migrations, "migrations/"+e.Name())
			if err != nil {
				t.Fatal(err)
			}
			old["migrations/"+e.Name()] = &fstest.MapFile{Data: b}
		}
		if err := db.Migrate(ctx, old, "migrations", "ledger_schema_version", log); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO kpi_programmes (programme_id, currency, point_value, inactive_days, refreshed_at) VALUES ('p', 'EUR', '0.01', 90, 1)`,
			`INSERT INTO kpi_member_periods VALUES ('p', '2026-01', 1, 2, 3, 4, 5, 4, 2, 1, 1, 3, 1)`,
			`INSERT INTO kpi_cohorts VALUES ('p', '2026-01', 0, 5, 3)`,
			`INSERT INTO kpi_transitions VALUES ('p', 'segment', '2026-01', 'new', 'loyal', 2)`,
			`INSERT INTO kpi_churn_models VALUES ('p', 1, 1, 3, 0.2, 4, 0.8, 2.4, -10, 26)`,
			`INSERT INTO kpi_churn_risk VALUES ('p', 'm-a', 'key-a', 2, 3, 4, 0.5, 1.25)`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := Migrate(ctx, db, log); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			q    string
			want int64
		}{
			{`SELECT churned FROM kpi_members WHERE programme_id = 'p' AND period = '2026-01'`, 1},
			{`SELECT active FROM kpi_cohort_retention WHERE programme_id = 'p' AND cohort = '2026-01'`, 3},
			{`SELECT members FROM kpi_segment_transitions WHERE programme_id = 'p' AND to_segment = 'loyal'`, 2},
			{`SELECT customers FROM kpi_churn_model WHERE programme_id = 'p'`, 3},
			{`SELECT repeat_purchases FROM kpi_churn_risk_members WHERE member_key = 'key-a'`, 2},
			{`SELECT repeat_purchases FROM kpi_churn_risk WHERE member_id = 'm-a'`, 2},
			{`SELECT COUNT(*) FROM kpi_member_periods`, 1},
			{`SELECT run FROM kpi_programmes WHERE programme_id = 'p'`, 0},
		} {
			var got int64
			if err := db.QueryRowContext(ctx, c.q).Scan(&got); err != nil {
				t.Fatalf("%s: %v", c.q, err)
			}
			if got != c.want {
				t.Errorf("%s = %d, want %d", c.q, got, c.want)
			}
		}
	})
}

// Members enrolled before consents had a history keep their partner
// consent: migration 00017 records it as the first change of their
// partner marketing consent (source enrolment), and the current consent.
func TestMigratePartnerConsent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		old := migrationsBefore(t, "00017")
		if err := db.Migrate(ctx, old, "migrations", "ledger_schema_version", log); err != nil {
			t.Fatal(err)
		}
		for i, consent := range []bool{true, false} {
			if _, err := db.ExecContext(ctx, `INSERT INTO ledger_members (member_id, programme_id, external_ref, partner_consent, enrolled_at,
				available, pending, held, debt, lifetime_earned, lifetime_burned, seq, next_due_at, updated_at)
				VALUES ($1, 'p', $1, $2, 1000, 0, 0, 0, 0, 0, 0, 0, 0, 1000)`, []string{"m-yes", "m-no"}[i], consent); err != nil {
				t.Fatal(err)
			}
		}
		if err := Migrate(ctx, db, log); err != nil {
			t.Fatal(err)
		}
		var member, purpose, source string
		var granted bool
		var at int64
		if err := db.QueryRowContext(ctx, `SELECT member_id, purpose, granted, source, occurred_at FROM consent_changes`).
			Scan(&member, &purpose, &granted, &source, &at); err != nil {
			t.Fatalf("one change: %v", err)
		}
		if member != "m-yes" || purpose != "partner_marketing" || !granted || source != "enrolment" || at != 1000 {
			t.Errorf("change = %s %s %v %s %d", member, purpose, granted, source, at)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM consent_current WHERE member_id = 'm-yes' AND purpose = 'partner_marketing' AND granted`).
			Scan(&n); err != nil || n != 1 {
			t.Errorf("current consent rows %d, %v; want 1", n, err)
		}
	})
}

// migrationsBefore are the ledger's migrations before the one named first,
// as an earlier version shipped them.
func migrationsBefore(t *testing.T, first string) fstest.MapFS {
	t.Helper()
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	old := fstest.MapFS{}
	for _, e := range entries {
		if e.Name() >= first {
			break
		}
		b, err := fs.ReadFile(migrations, "migrations/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		old["migrations/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	return old
}
