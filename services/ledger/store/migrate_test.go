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
		entries, err := fs.ReadDir(migrations, "migrations")
		if err != nil {
			t.Fatal(err)
		}
		old := fstest.MapFS{}
		for _, e := range entries {
			if e.Name() >= "00009" {
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
