package app_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/partners/app"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// The idempotency rule (services/internal/idem) as the partners service
// keeps it.

func sameRefusal(t *testing.T, got, want error) {
	t.Helper()
	g, ok1 := fault.As(got)
	w, ok2 := fault.As(want)
	if !ok1 || !ok2 || !reflect.DeepEqual(g, w) {
		t.Fatalf("got %v, want the refusal %v replayed", got, want)
	}
}

func (f *fixture) burn(key, ref string, points int64) (*domain.Txn, error) {
	return f.app.Burn(context.Background(), f.partner, key, ref, points, "")
}

func (f *fixture) plainEarn(key, ref, unit string) (*domain.Txn, error) {
	return f.app.Earn(context.Background(), f.partner, key, app.EarnRequest{MemberRef: ref, Amount: decimal.NewFromInt(20), Unit: unit})
}

// A burn the ledger refuses is refused for good under its key, even after
// the member has the points; a new key burns.
func TestBurnRefusedByTheLedgerIsReplayed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 1000)
		ref := f.link(t, "m1")
		f.ledger.refuse["m1"] = fault.Precondition(fault.InsufficientPoints, "insufficient points: 10 available")
		_, first := f.burn("b1", ref, 50)
		if !isPrecondition(first) || fault.ReasonOf(first) != fault.InsufficientPoints {
			t.Fatalf("burn the ledger refuses: %v (reason %s), want the ledger's reason", first, fault.ReasonOf(first))
		}
		delete(f.ledger.refuse, "m1") // topped up
		_, again := f.burn("b1", ref, 50)
		sameRefusal(t, again, first)
		if txn, err := f.burn("b2", ref, 50); err != nil || txn.Status != domain.TxnCompleted || f.ledger.entries != 1 {
			t.Fatalf("a new key: %+v %v, %d entries", txn, err, f.ledger.entries)
		}
	})
}

// An earn refused before it reaches the ledger (a member reference not
// linked yet) is stored too: linking the member does not change the reply
// to that key.
func TestEarnRefusedBeforeTheLedgerIsReplayed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 1000)
		ref := f.partner.MemberRef("m2")
		_, first := f.plainEarn("e1", ref, "EUR")
		if e, ok := fault.As(first); !ok || e.Kind != fault.KindNotFound {
			t.Fatalf("earn for an unlinked member: %v", first)
		}
		if f.link(t, "m2") != ref {
			t.Fatal("the member's reference changed")
		}
		_, again := f.plainEarn("e1", ref, "EUR")
		sameRefusal(t, again, first)
		if txn, err := f.plainEarn("e2", ref, "EUR"); err != nil || txn.Status != domain.TxnCompleted {
			t.Fatalf("a new key: %+v %v", txn, err)
		}
	})
}

// A key used for one request refuses another (not stored); a bad request
// is not stored, and its fixed retry with the key succeeds.
func TestEarnKeyReuseAndInvalidRequests(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 1000)
		ref := f.link(t, "m1")
		_, err := f.plainEarn("e1", ref, "MILES")
		if e, ok := fault.As(err); !ok || e.Kind != fault.KindInvalid || e.Field != "miles" {
			t.Fatalf("earn in the wrong unit: %v", err)
		}
		txn, err := f.plainEarn("e1", ref, "EUR")
		if err != nil || txn.Points != 20 {
			t.Fatalf("the fixed request with the key: %+v %v", txn, err)
		}
		_, err = f.app.Earn(context.Background(), f.partner, "e1", app.EarnRequest{MemberRef: ref, Amount: decimal.NewFromInt(21), Unit: "EUR"})
		if e, ok := fault.As(err); !ok || e.Kind != fault.KindAlreadyExists || !idem.IsKeyReused(err) {
			t.Fatalf("another earn with the key: %v", err)
		}
		if _, err := f.burn("e1", ref, 20); !idem.IsKeyReused(err) {
			t.Fatalf("a burn with the earn's key: %v", err)
		}
		again, err := f.plainEarn("e1", ref, "EUR")
		if err != nil || again.ID != txn.ID || f.ledger.entries != 1 {
			t.Fatalf("the replay: %+v %v, %d entries", again, err, f.ledger.entries)
		}
	})
}

// A ledger answering Unavailable refuses nothing: the earn stays pending,
// nothing is stored, the retry with its key posts it once.
func TestEarnLedgerUnavailableIsNotStored(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 1000)
		ref := f.link(t, "m1")
		f.ledger.draining = 1
		_, err := f.earn("e1", ref)
		if e, ok := fault.As(err); !ok || e.Kind != fault.KindUnavailable {
			t.Fatalf("earn, the ledger draining: %v", err)
		}
		txn, err := f.earn("e1", ref)
		if err != nil || txn.Status != domain.TxnCompleted || txn.BonusPoints != 50 || f.ledger.entries != 1 || f.spent(t) != 50 {
			t.Fatalf("the retry: %+v %v, %d entries, spent %d", txn, err, f.ledger.entries, f.spent(t))
		}
	})
}

// Recovery posts what is pending within the recovery window only: an
// older transaction's ledger key may be purged, and posting it again could
// post it twice. It is left pending, for review.
func TestRecoverStaysWithinTheRecoveryWindow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 1000)
		old, young := f.link(t, "m1"), f.link(t, "m2")
		f.ledger.fail = 2
		if _, err := f.plainEarn("old", old, "EUR"); err == nil {
			t.Fatal("earn posted with the ledger down")
		}
		f.clock.Advance(idem.RecoveryWindow)
		if _, err := f.plainEarn("young", young, "EUR"); err == nil {
			t.Fatal("earn posted with the ledger down")
		}
		f.clock.Advance(11 * time.Minute)
		if n, err := f.app.Recover(ctx); err != nil || n != 1 {
			t.Fatalf("recovered %d %v, want the young one", n, err)
		}
		f.ledger.mu.Lock()
		defer f.ledger.mu.Unlock()
		if f.ledger.entries != 1 {
			t.Fatalf("%d entries posted, want 1", f.ledger.entries)
		}
		for _, posted := range f.ledger.posted {
			if posted.MemberID != "m2" {
				t.Fatalf("posted %+v, beyond the window", posted)
			}
		}
	})
}

// Keys older than the retention are purged; younger ones still replay.
func TestPurgeKeys(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 1000) // the partner's and the offer's keys
		ref := f.link(t, "m1")
		f.clock.Advance(app.KeyRetention() - time.Second)
		young, err := f.plainEarn("e1", ref, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := f.app.PurgeKeys(ctx); err != nil || n != 0 {
			t.Fatalf("purged %d %v before the retention", n, err)
		}
		f.clock.Advance(2 * time.Second)
		if n, err := f.app.PurgeKeys(ctx); err != nil || n != 3 {
			t.Fatalf("purged %d %v, want the partner's, the offer's and the link's", n, err)
		}
		again, err := f.plainEarn("e1", ref, "EUR")
		if err != nil || again.ID != young.ID {
			t.Fatalf("e1 after the purge: %+v %v", again, err)
		}
	})
}
