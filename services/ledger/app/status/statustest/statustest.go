// Package statustest states what any implementation of status.Store must
// do (Contract), through the interface only: what the projections save
// reads back, the event stream's positions and filters, and what the
// projector and the time-driven moments read of the ledger, written with
// the domain's operations through a posting.Store on the same database.
package statustest

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Stores are what a status contract runs on, over one database: the
// status store under test and a posting store that writes the ledger the
// projections are derived from.
type Stores struct {
	Status  status.Store
	Posting posting.Store
}

// View runs fn in a read snapshot of s, failing the test on an error.
func View(t testing.TB, s status.Store, fn func(ctx context.Context, tx status.Reader) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// Update runs fn in a projection transaction of s, failing the test on an
// error.
func Update(t testing.TB, s status.Store, fn func(ctx context.Context, tx status.ProjectionTx) error) {
	t.Helper()
	if err := s.UpdateProjections(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// Save saves w in a projection transaction, after the stream head it
// locks (w.Head), as the projections do.
func Save(t testing.TB, s status.Store, w *status.StatusWrites) {
	t.Helper()
	Update(t, s, func(ctx context.Context, tx status.ProjectionTx) error {
		head, err := tx.LockStream(ctx)
		if err != nil {
			return err
		}
		w.Head = head
		return tx.SaveStatus(ctx, w)
	})
}

// Project projects entries as the projector would and saves the result
// at time at: a status book per member, each member's entries applied in
// sequence order, the entries marked projected. The members must never
// have been projected, and entries must be their whole histories. It
// returns the books.
func Project(t testing.TB, s status.Store, cfg *domain.Config, at time.Time, entries ...*domain.Entry) map[string]*domain.StatusBook {
	t.Helper()
	books := map[string]*domain.StatusBook{}
	w := &status.StatusWrites{At: at}
	for _, e := range entries {
		sb := books[e.MemberID]
		if sb == nil {
			prog, ok := cfg.Programme(e.ProgrammeID)
			if !ok {
				t.Fatalf("no programme %q", e.ProgrammeID)
			}
			sb = domain.NewStatusBook(prog, domain.MemberStatus{MemberID: e.MemberID, ProgrammeID: e.ProgrammeID}, nil)
			sb.New = true
			books[e.MemberID] = sb
		}
		sb.Apply(e)
		w.Projected = append(w.Projected, e.ID)
	}
	for _, id := range slices.Sorted(maps.Keys(books)) {
		sb := books[id]
		st := sb.Status
		w.NewStatuses = append(w.NewStatuses, &st)
		for _, p := range sb.NewPurchases {
			w.Purchases = append(w.Purchases, status.MemberPurchase{MemberID: id, ProgrammeID: st.ProgrammeID, Purchase: p})
		}
		w.Transitions = append(w.Transitions, sb.NewTransitions...)
		w.Events = append(w.Events, sb.NewEvents...)
	}
	Save(t, s, w)
	return books
}
