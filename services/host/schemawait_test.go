package host_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// A server started with Migrate=false on a database nobody has migrated
// waits (it does not fail on missing tables), and starts once the
// migrations have run, as the pods do while the migrate Job runs.
func TestStartWaitsForSchema(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		logs := &lockedBuffer{}
		log := slog.New(slog.NewTextHandler(logs, nil))
		type started struct {
			h   *host.Host
			err error
		}
		done := make(chan started, 1)
		go func() {
			h, err := host.Start(ctx(t), host.Config{DB: db.DSN, MasterKeysFile: masterKeys(t, t.TempDir()), SchemaWait: 30 * time.Second, SchemaPoll: 20 * time.Millisecond}, log)
			done <- started{h, err}
		}()
		select {
		case s := <-done:
			if s.h != nil {
				s.h.Close()
			}
			t.Fatalf("Start returned before the migrations ran: %v", s.err)
		case <-time.After(500 * time.Millisecond):
		}
		if !strings.Contains(string(logs.Bytes()), "waiting for the schema migrations") {
			t.Errorf("the wait is not logged:\n%s", logs.Bytes())
		}
		if err := host.Migrate(ctx(t), db.DSN, nil, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-done:
			if s.err != nil {
				t.Fatalf("Start after the migrations: %v", s.err)
			}
			s.h.Close()
		case <-time.After(20 * time.Second):
			t.Fatal("Start still waits after the migrations ran")
		}
		if !strings.Contains(string(logs.Bytes()), "schema ready") {
			t.Errorf("the end of the wait is not logged:\n%s", logs.Bytes())
		}
	})
}

// The wait ends, with what is missing, after SchemaWait.
func TestStartSchemaWaitTimesOut(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h, err := host.Start(ctx(t), host.Config{DB: db.DSN, Services: []string{"ledger"}, MasterKeysFile: masterKeys(t, t.TempDir()),
			SchemaWait: 300 * time.Millisecond, SchemaPoll: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
		if err == nil {
			h.Close()
			t.Fatal("Start on an empty database without migrating: want an error")
		}
		for _, want := range []string{"fidelis migrate", "ledger_schema_version", "access_schema_version"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
}
