package operations_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/progress"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/operations"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/store"
)

func open(t *testing.T, db *sqldb.DB, o operations.Options) *operations.Service {
	t.Helper()
	if err := store.Migrate(context.Background(), db, ledgertest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	o.Logger = ledgertest.Logger(t)
	s := operations.New(store.NewOperations(db), o)
	t.Cleanup(s.Close)
	return s
}

var ops = principal.Principal{ID: "ops", Roles: []principal.Role{principal.Operator}, Programmes: []string{"*"}}

// The work runs outside the caller's context, its heartbeat goes on while
// it runs, and a shutdown cancels it: its operation ends failed with the
// outcome the work gave, and a replica no longer running it reports it so.
func TestHeartbeatAndShutdown(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := open(t, db, operations.Options{Heartbeat: 20 * time.Millisecond, StaleAfter: time.Minute})
		other := open(t, db, operations.Options{StaleAfter: time.Minute})
		started := make(chan struct{})
		call, cancel := context.WithCancel(context.Background())
		op, err := s.Start(call, operations.Start{Method: "Test", Who: ops, Key: "k1", Form: struct{}{}}, func(ctx context.Context) operations.Outcome {
			progress.Report(ctx, 7)
			close(started)
			<-ctx.Done()
			return operations.Outcome{Failed: true, Bytes: []byte("shut down")}
		})
		if err != nil {
			t.Fatal(err)
		}
		cancel() // the caller goes away: the work goes on
		<-started
		first := op.HeartbeatAt
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := other.Get(context.Background(), ops, op.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Done() {
				t.Fatalf("operation done before shutdown: %+v", got)
			}
			if got.HeartbeatAt.After(first) && got.Progress == 7 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no heartbeat with the progress: %+v", got)
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.Close()
		got, err := other.Get(context.Background(), ops, op.ID)
		if err != nil || got.State != operations.Failed || string(got.Outcome) != "shut down" || got.Abandoned {
			t.Fatalf("after shutdown: %+v %v", got, err)
		}
		if _, err := s.Start(context.Background(), operations.Start{Method: "Test", Who: ops, Key: "k2", Form: struct{}{}},
			func(context.Context) operations.Outcome { return operations.Outcome{} }); err == nil {
			t.Fatal("a closed service started an operation")
		}
	})
}

// Concurrent starts with one key make one operation.
func TestConcurrentStartsMakeOne(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := open(t, db, operations.Options{})
		ran := make(chan string, 8)
		ids := make(chan string, 8)
		for range 8 {
			go func() {
				op, err := s.Start(context.Background(), operations.Start{Method: "Test", Who: ops, Key: "same", Form: struct{}{}},
					func(context.Context) operations.Outcome { ran <- "x"; return operations.Outcome{Bytes: []byte("ok")} })
				if err != nil {
					t.Error(err)
					ids <- ""
					return
				}
				ids <- op.ID
			}()
		}
		first := <-ids
		for range 7 {
			if id := <-ids; id != first {
				t.Fatalf("starts made operations %s and %s", first, id)
			}
		}
		<-ran
		select {
		case <-ran:
			t.Fatal("the work ran twice")
		case <-time.After(100 * time.Millisecond):
		}
	})
}

// An operation cancelled through another replica stops at its runner's
// next heartbeat and ends cancelled.
func TestCancelThroughAnotherReplica(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := open(t, db, operations.Options{Heartbeat: 20 * time.Millisecond})
		other := open(t, db, operations.Options{})
		op, err := s.Start(context.Background(), operations.Start{Method: "Test", Who: ops, Key: "k", Form: struct{}{}},
			func(ctx context.Context) operations.Outcome {
				<-ctx.Done()
				return operations.Outcome{Failed: true, Cancelled: errors.Is(context.Cause(ctx), operations.ErrCancelled), Bytes: []byte("cancelled")}
			})
		if err != nil {
			t.Fatal(err)
		}
		got, err := other.Cancel(context.Background(), ops, op.ID)
		if err != nil || !got.CancelRequested {
			t.Fatalf("cancel: %+v %v", got, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !got.Done() {
			if time.Now().After(deadline) {
				t.Fatal("not cancelled")
			}
			time.Sleep(10 * time.Millisecond)
			if got, err = other.Get(context.Background(), ops, op.ID); err != nil {
				t.Fatal(err)
			}
		}
		if got.State != operations.Cancelled || string(got.Outcome) != "cancelled" {
			t.Fatalf("after cancel: %+v", got)
		}
	})
}
