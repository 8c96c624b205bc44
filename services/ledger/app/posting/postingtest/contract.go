package postingtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/storetest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Contract states what any posting.Store must do. open returns an empty
// store of its own for each subtest (a fresh, migrated database).
func Contract(t *testing.T, open func(t *testing.T) posting.Store) {
	t.Run("MembersReadBack", func(t *testing.T) { membersReadBack(t, open(t)) })
	t.Run("EntriesReadBack", func(t *testing.T) { entriesReadBack(t, open(t)) })
	t.Run("LotsHoldsAndMoves", func(t *testing.T) { lotsHoldsAndMoves(t, open(t)) })
	t.Run("HoldsPage", func(t *testing.T) { holdsPage(t, open(t)) })
	t.Run("Clawbacks", func(t *testing.T) { clawbacks(t, open(t)) })
	t.Run("DueMembers", func(t *testing.T) { dueMembers(t, open(t)) })
	t.Run("Replies", func(t *testing.T) { replies(t, open(t)) })
	t.Run("ConflictsWriteNothing", func(t *testing.T) { conflictsWriteNothing(t, open(t)) })
	t.Run("ConcurrentUpdatesAllLand", func(t *testing.T) { concurrentUpdatesAllLand(t, open(t)) })
}

// View runs fn in a read snapshot of s, failing the test on an error.
func View(t testing.TB, s posting.Store, fn func(ctx context.Context, tx posting.Reader) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// Update runs fn in a write transaction of s, failing the test on an error.
func Update(t testing.TB, s posting.Store, fn func(ctx context.Context, tx posting.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// SortPostings copies entries with their postings in account order: a
// store may return an entry's postings in any order.
func SortPostings(es []*domain.Entry) []*domain.Entry {
	out := make([]*domain.Entry, len(es))
	for i, e := range es {
		c := *e
		c.Postings = slices.Clone(e.Postings)
		slices.SortFunc(c.Postings, func(a, b domain.Posting) int { return strings.Compare(a.Account, b.Account) })
		out[i] = &c
	}
	return out
}

// CheckEntries fails the test unless got are want, in order, postings in
// any order.
func CheckEntries(t testing.TB, what string, got, want []*domain.Entry) {
	t.Helper()
	storetest.Check(t, what, SortPostings(got), SortPostings(want))
}

func byID[T any](xs []T, id func(T) string) []T {
	out := slices.Clone(xs)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(id(a), id(b)) })
	return out
}

func lotsByID(ls []*domain.Lot) []*domain.Lot {
	return byID(ls, func(l *domain.Lot) string { return l.ID })
}

func sortMoves(ms []domain.LotMove) []domain.LotMove {
	return byID(ms, func(m domain.LotMove) string { return m.EntryID + "\x00" + m.LotID + "\x00" + m.OriginEntryID })
}

// Dec is a decimal literal.
func Dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// Purchase is an operation earning on a purchase of amount euros.
func Purchase(amount string, channel domain.Channel, at time.Time) func(b *domain.Book) error {
	return func(b *domain.Book) error {
		_, err := b.Earn(domain.EarnCmd{Purchase: &money.Money{Amount: Dec(amount), Currency: "EUR"}, Channel: channel,
			StoreID: "store-1", OrderRef: "order-" + amount, OccurredAt: at}, at)
		return err
	}
}

// Burn is an operation spending points.
func Burn(points int64, channel domain.Channel, at time.Time) func(b *domain.Book) error {
	return func(b *domain.Book) error {
		_, err := b.Burn(domain.BurnCmd{Points: points, Channel: channel, OrderRef: "burn", Reason: "reward"}, at)
		return err
	}
}

// Reverse is an operation reversing part of an entry saved through l.
func Reverse(l *Ledger, orig *domain.Entry, p domain.Portion, channel domain.Channel, at time.Time) func(b *domain.Book) error {
	return func(b *domain.Book) error {
		_, err := b.Reverse(domain.ReverseCmd{Original: orig, Prior: l.Clawbacks(orig.ID), Portion: p, Reason: "return",
			Channel: channel}, at)
		return err
	}
}

// HoldPoints is an operation reserving points; *h is the hold made.
func HoldPoints(points int64, at time.Time, h **domain.Hold) func(b *domain.Book) error {
	return func(b *domain.Book) error {
		made, _, err := b.Hold(domain.HoldCmd{Points: points, Reference: fmt.Sprintf("basket-%d", points),
			Channel: domain.ChannelEcommerce}, at)
		*h = made
		return err
	}
}

// What is saved reads back as it was saved: members (after inserts and
// updates), read with or without locks, and found by external ref within
// their programme.
func membersReadBack(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", BirthDate: "1990-04-17", PartnerConsent: true, EnrolledAt: T0})
	l.Enrol(domain.Member{ID: "m-b", ProgrammeID: "p", ExternalRef: "card-2", EnrolledAt: T0.Add(time.Hour)})
	l.Enrol(domain.Member{ID: "m-c", ProgrammeID: "q", ExternalRef: "card-1", EnrolledAt: T0})
	l.Do("m-a", Earn(100, T0.Add(2*time.Hour)))
	l.Do("m-a", Burn(30, domain.ChannelPOS, T0.Add(3*time.Hour)))
	if m := l.Member("m-a"); m.Available != 70 || m.Seq != 2 || m.NextDueAt.IsZero() {
		t.Fatalf("fixture: member %+v", m)
	}
	ids := []string{"m-a", "m-b", "m-c", "m-none"}
	want := map[string]*domain.Member{"m-a": l.Member("m-a"), "m-b": l.Member("m-b"), "m-c": l.Member("m-c")}
	ctx := context.Background()
	View(t, s, func(ctx context.Context, tx posting.Reader) error {
		got, err := tx.Members(ctx, ids, false)
		if err != nil {
			return err
		}
		storetest.Check(t, "Members", got, want)
		if got, err = tx.Members(ctx, nil, false); err != nil || len(got) != 0 {
			t.Errorf("Members(none) = %v, %v; want none", got, err)
		}
		return nil
	})
	Update(t, s, func(ctx context.Context, tx posting.Tx) error {
		got, err := tx.Members(ctx, ids, true)
		if err != nil {
			return err
		}
		storetest.Check(t, "Members with locks", got, want)
		return nil
	})
	for _, c := range []struct {
		programme, ref, id string
	}{
		{"p", "card-1", "m-a"},
		{"p", "card-2", "m-b"},
		{"q", "card-1", "m-c"},
		{"q", "card-2", ""},
		{"p", "card-3", ""},
	} {
		for _, tx := range []string{"View", "Update"} {
			check := func(ctx context.Context, tx posting.Books) error {
				id, ok, err := tx.MemberIDByRef(ctx, c.programme, c.ref)
				if err != nil {
					return err
				}
				if id != c.id || ok != (c.id != "") {
					t.Errorf("MemberIDByRef(%s, %s) = %q, %v; want %q", c.programme, c.ref, id, ok, c.id)
				}
				return nil
			}
			var err error
			if tx == "View" {
				err = s.View(ctx, func(ctx context.Context, tx posting.Reader) error { return check(ctx, tx) })
			} else {
				err = s.Update(ctx, func(ctx context.Context, tx posting.Tx) error { return check(ctx, tx) })
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Entries read back with their postings, one by one and as a member's
// history: in sequence order, after a sequence number, at most a limit.
func entriesReadBack(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: T0})
	l.Enrol(domain.Member{ID: "m-b", ProgrammeID: "p", ExternalRef: "card-2", EnrolledAt: T0})
	at := T0.Add(time.Hour)
	l.Do("m-a", func(b *domain.Book) error {
		_, err := b.Earn(domain.EarnCmd{Purchase: &money.Money{Amount: Dec("25.50"), Currency: "EUR"}, Channel: domain.ChannelPOS,
			StoreID: "store-1", OrderRef: "order-1", OccurredAt: at.Add(-time.Minute)}, at)
		return err
	})
	l.Do("m-a", func(b *domain.Book) error {
		_, err := b.Earn(domain.EarnCmd{Points: 100, Channel: domain.ChannelPartner, PartnerID: "acme", Reason: "welcome", OccurredAt: at}, at)
		return err
	})
	l.Do("m-a", func(b *domain.Book) error {
		_, err := b.Burn(domain.BurnCmd{Points: 30, Channel: domain.ChannelEcommerce, StoreID: "web", OrderRef: "order-2",
			Reason: "reward", PartnerID: "acme"}, at.Add(time.Hour))
		return err
	})
	var h *domain.Hold
	l.Do("m-a", HoldPoints(20, at.Add(2*time.Hour), &h))
	l.Do("m-a", func(b *domain.Book) error {
		_, err := b.Adjust(domain.AdjustCmd{Points: -5, Reason: "correction", Operator: "op-1"}, at.Add(3*time.Hour))
		return err
	})
	l.Do("m-b", Earn(7, at))
	all := l.Entries("m-a")
	if len(all) != 5 || all[0].Purchase == nil || all[3].HoldID == "" {
		t.Fatalf("fixture: %s", storetest.Show(all))
	}
	View(t, s, func(ctx context.Context, tx posting.Reader) error {
		for _, e := range all {
			got, ok, err := tx.Entry(ctx, e.ID)
			if err != nil {
				return err
			}
			if !ok {
				t.Errorf("Entry(%s) not found", e.ID)
				continue
			}
			CheckEntries(t, "Entry "+e.ID, []*domain.Entry{got}, []*domain.Entry{e})
		}
		if got, ok, err := tx.Entry(ctx, "none"); err != nil || ok {
			t.Errorf("Entry(none) = %v, %v, %v; want not found", got, ok, err)
		}
		for _, c := range []struct {
			member      string
			after       int64
			limit       int
			want        []*domain.Entry
			description string
		}{
			{"m-a", 0, 100, all, "all"},
			{"m-a", 2, 2, all[2:4], "a page after seq 2"},
			{"m-a", 4, 100, all[4:], "after seq 4"},
			{"m-a", 5, 100, nil, "after the last"},
			{"m-b", 0, 100, l.Entries("m-b"), "another member's"},
			{"m-none", 0, 100, nil, "an unknown member's"},
		} {
			got, err := tx.Entries(ctx, c.member, c.after, c.limit)
			if err != nil {
				return err
			}
			CheckEntries(t, "Entries "+c.description, got, c.want)
		}
		return nil
	})
}

// Lots and holds read back after inserts and updates; OpenLots returns
// only the lots with points remaining or still pending, ActiveHolds only
// the active holds, of the members asked for; OriginMoves the moves of
// the origins asked for.
func lotsHoldsAndMoves(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: T0})
	l.Enrol(domain.Member{ID: "m-b", ProgrammeID: "p", ExternalRef: "card-2", EnrolledAt: T0})
	earn1 := l.Do("m-a", Earn(100, T0))[0]
	l.Do("m-a", Earn(50, T0.Add(24*time.Hour)))
	l.Do("m-a", Purchase("40", domain.ChannelPOS, T0.Add(24*time.Hour)))
	at := T0.Add(48 * time.Hour)
	burn := l.Do("m-a", Burn(100, domain.ChannelPOS, at))[0]
	var h1, h2, h3 *domain.Hold
	l.Do("m-a", HoldPoints(20, at, &h1))
	l.Do("m-a", HoldPoints(10, at, &h2))
	l.Do("m-a", func(b *domain.Book) error {
		_, _, err := b.Release(h2.ID, at.Add(time.Minute))
		return err
	})
	l.Do("m-a", HoldPoints(5, at.Add(2*time.Minute), &h3))
	l.Do("m-a", func(b *domain.Book) error {
		_, _, _, err := b.Capture(h3.ID, 0, at.Add(3*time.Minute))
		return err
	})
	l.Do("m-b", Earn(9, T0))

	var open, closed []*domain.Lot
	for _, lot := range l.Lots("m-a") {
		if lot.Remaining > 0 || lot.Pending {
			open = append(open, lot)
		} else {
			closed = append(closed, lot)
		}
	}
	if len(open) != 2 || len(closed) != 1 || l.Hold(h2.ID).Status != domain.HoldReleased || l.Hold(h3.ID).Status != domain.HoldCaptured {
		t.Fatalf("fixture: lots %s, holds %s", storetest.Show(l.Lots("m-a")), storetest.Show(l.Holds("m-a")))
	}
	check := func(ctx context.Context, tx posting.Books) error {
		got, err := tx.OpenLots(ctx, []string{"m-a"})
		if err != nil {
			return err
		}
		storetest.Check(t, "OpenLots(m-a)", lotsByID(got), open)
		if got, err = tx.OpenLots(ctx, []string{"m-a", "m-b", "m-none"}); err != nil {
			return err
		}
		storetest.Check(t, "OpenLots(m-a, m-b)", lotsByID(got), lotsByID(append(slices.Clone(open), l.Lots("m-b")...)))
		if got, err = tx.LotsByID(ctx, []string{closed[0].ID, open[1].ID, "none"}); err != nil {
			return err
		}
		storetest.Check(t, "LotsByID", lotsByID(got), lotsByID([]*domain.Lot{closed[0], open[1]}))
		if got, err = tx.LotsBySource(ctx, earn1.ID); err != nil {
			return err
		}
		storetest.Check(t, "LotsBySource(earn)", got, []*domain.Lot{closed[0]})
		if got, err = tx.LotsBySource(ctx, burn.ID); err != nil {
			return err
		}
		storetest.Check(t, "LotsBySource(burn)", got, []*domain.Lot(nil))

		holds, err := tx.ActiveHolds(ctx, []string{"m-a", "m-b"})
		if err != nil {
			return err
		}
		storetest.Check(t, "ActiveHolds", holds, []*domain.Hold{l.Hold(h1.ID)})
		for _, h := range []*domain.Hold{h1, h2, h3} {
			got, ok, err := tx.Hold(ctx, h.ID)
			if err != nil {
				return err
			}
			if !ok {
				t.Errorf("Hold(%s) not found", h.ID)
			}
			storetest.Check(t, "Hold "+h.ID, got, l.Hold(h.ID))
		}
		if got, ok, err := tx.Hold(ctx, "none"); err != nil || ok {
			t.Errorf("Hold(none) = %v, %v, %v; want not found", got, ok, err)
		}

		origins := []string{h1.EntryID, h2.EntryID, burn.ID}
		var want []domain.LotMove
		for _, m := range l.Moves("m-a") {
			if slices.Contains(origins, m.OriginEntryID) {
				want = append(want, m)
			}
		}
		moves, err := tx.OriginMoves(ctx, origins)
		if err != nil {
			return err
		}
		if len(want) < 4 { // h1's draw, h2's draw and release, the burn's draw
			t.Fatalf("fixture: moves %s", storetest.Show(want))
		}
		storetest.Check(t, "OriginMoves", sortMoves(moves), sortMoves(want))
		return nil
	}
	View(t, s, func(ctx context.Context, tx posting.Reader) error { return check(ctx, tx) })
	Update(t, s, func(ctx context.Context, tx posting.Tx) error { return check(ctx, tx) })
}

// Holds pages through a member's holds in (created, id) order, of any
// status or one, an active hold past its expiry counting as expired.
func holdsPage(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: T0})
	l.Enrol(domain.Member{ID: "m-b", ProgrammeID: "p", ExternalRef: "card-2", EnrolledAt: T0})
	l.Do("m-a", Earn(100, T0))
	l.Do("m-b", Earn(100, T0))
	at := T0.Add(time.Hour)
	var h1, h2, h3, other *domain.Hold
	l.Do("m-a", HoldPoints(20, at, &h1))
	l.Do("m-a", HoldPoints(10, at, &h2)) // created with h1: ordered by id
	l.Do("m-a", func(b *domain.Book) error {
		_, _, err := b.Release(h2.ID, at.Add(time.Minute))
		return err
	})
	l.Do("m-a", HoldPoints(5, at.Add(2*time.Minute), &h3))
	l.Do("m-b", HoldPoints(5, at, &other))
	first := []*domain.Hold{l.Hold(h1.ID), l.Hold(h2.ID)}
	if h2.ID < h1.ID {
		first[0], first[1] = first[1], first[0]
	}
	all := append(first, l.Hold(h3.ID))
	lapsed := h1.ExpiresAt.Add(time.Second) // h1 and h3 past their expiry
	if !h3.ExpiresAt.Before(lapsed) {
		lapsed = h3.ExpiresAt.Add(time.Second)
	}
	View(t, s, func(ctx context.Context, tx posting.Reader) error {
		page := func(status domain.HoldStatus, asOf time.Time, after posting.HoldPos, limit int) []*domain.Hold {
			t.Helper()
			got, err := tx.Holds(ctx, posting.HoldQuery{MemberID: "m-a", Status: status, AsOf: asOf, After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		storetest.Check(t, "Holds(all)", page("", at, posting.HoldPos{}, 10), all)
		storetest.Check(t, "Holds(all, 2)", page("", at, posting.HoldPos{}, 2), all[:2])
		after := posting.HoldPos{CreatedAt: all[0].CreatedAt, ID: all[0].ID}
		storetest.Check(t, "Holds(after the first)", page("", at, after, 10), all[1:])
		after = posting.HoldPos{CreatedAt: all[1].CreatedAt, ID: all[1].ID}
		storetest.Check(t, "Holds(after the second)", page("", at, after, 10), all[2:])
		active := []*domain.Hold{l.Hold(h1.ID), l.Hold(h3.ID)}
		storetest.Check(t, "Holds(active)", page(domain.HoldActive, at.Add(3*time.Minute), posting.HoldPos{}, 10), active)
		storetest.Check(t, "Holds(released)", page(domain.HoldReleased, at, posting.HoldPos{}, 10), []*domain.Hold{l.Hold(h2.ID)})
		storetest.Check(t, "Holds(expired)", page(domain.HoldExpired, at, posting.HoldPos{}, 10), []*domain.Hold(nil))
		storetest.Check(t, "Holds(active, lapsed)", page(domain.HoldActive, lapsed, posting.HoldPos{}, 10), []*domain.Hold(nil))
		storetest.Check(t, "Holds(expired, lapsed)", page(domain.HoldExpired, lapsed, posting.HoldPos{}, 10), active)
		got, err := tx.Holds(ctx, posting.HoldQuery{MemberID: "m-none", AsOf: at, Limit: 10})
		if err != nil || len(got) != 0 {
			t.Errorf("Holds(m-none) = %v, %v", got, err)
		}
		return nil
	})
}

// Clawbacks returns an earn's clawbacks in sequence order, and no other
// reversal.
func clawbacks(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "q", ExternalRef: "card-1", EnrolledAt: T0})
	earn := l.Do("m-a", Purchase("100", domain.ChannelPOS, T0))[0]
	l.Do("m-a", Reverse(l, earn, domain.Portion{Points: 10}, domain.ChannelPOS, T0.Add(time.Hour)))
	l.Do("m-a", Reverse(l, earn, domain.Portion{Returned: &money.Money{Amount: Dec("20"), Currency: "EUR"}}, domain.ChannelPOS, T0.Add(2*time.Hour)))
	burn := l.Do("m-a", Burn(5, domain.ChannelPOS, T0.Add(3*time.Hour)))[0]
	l.Do("m-a", Reverse(l, burn, domain.Portion{Points: 2}, domain.ChannelPOS, T0.Add(4*time.Hour)))
	want := l.Clawbacks(earn.ID)
	if len(want) != 2 {
		t.Fatalf("fixture: %s", storetest.Show(l.Entries("m-a")))
	}
	check := func(ctx context.Context, tx posting.Books) error {
		got, err := tx.Clawbacks(ctx, earn.ID)
		if err != nil {
			return err
		}
		CheckEntries(t, "Clawbacks(earn)", got, want)
		for _, id := range []string{burn.ID, "none"} {
			if got, err = tx.Clawbacks(ctx, id); err != nil {
				return err
			}
			CheckEntries(t, "Clawbacks("+id+")", got, nil)
		}
		return nil
	}
	View(t, s, func(ctx context.Context, tx posting.Reader) error { return check(ctx, tx) })
	Update(t, s, func(ctx context.Context, tx posting.Tx) error { return check(ctx, tx) })
}

// DueMembers returns, in id order after afterID and at most limit, the
// members of a programme (of all when empty) with something due by t.
func dueMembers(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	for _, m := range []struct{ id, programme string }{
		{"d1", "p"}, {"d2", "p"}, {"d3", "p"}, {"d4", "p"}, {"d5", "p"}, {"d6", "q"},
	} {
		l.Enrol(domain.Member{ID: m.id, ProgrammeID: m.programme, ExternalRef: "card-" + m.id, EnrolledAt: T0})
	}
	l.Do("d1", Earn(10, T0))                          // a lot that expires at x
	l.Do("d3", Purchase("10", domain.ChannelPOS, T0)) // pending until two weeks later
	l.Do("d4", Earn(10, T0.Add(48*time.Hour)))        // expires two days after x
	l.Do("d5", Earn(10, T0))                          // expires at x,
	l.Do("d5", HoldPoints(5, T0, new(*domain.Hold)))  // but its hold ends 10 minutes after T0
	l.Do("d6", Earn(10, T0))                          // expires at x, in programme q
	p, _ := l.Cfg.Programme("p")
	x := p.ExpiresAt(T0)
	holdEnd := T0.Add(10 * time.Minute)
	if !l.Member("d1").NextDueAt.Equal(x) || !l.Member("d5").NextDueAt.Equal(holdEnd) || !l.Member("d2").NextDueAt.IsZero() ||
		!l.Member("d3").NextDueAt.Before(x) || !l.Member("d4").NextDueAt.Equal(x.AddDate(0, 0, 2)) {
		t.Fatalf("fixture: due times %v %v %v %v %v", l.Member("d1").NextDueAt, l.Member("d2").NextDueAt, l.Member("d3").NextDueAt,
			l.Member("d4").NextDueAt, l.Member("d5").NextDueAt)
	}
	View(t, s, func(ctx context.Context, tx posting.Reader) error {
		for _, c := range []struct {
			programme string
			at        time.Time
			after     string
			limit     int
			want      []string
		}{
			{"p", x, "", 10, []string{"d1", "d3", "d5"}},
			{"", x, "", 10, []string{"d1", "d3", "d5", "d6"}},
			{"p", x, "d1", 10, []string{"d3", "d5"}},
			{"p", x, "", 2, []string{"d1", "d3"}},
			{"p", holdEnd.Add(-time.Microsecond), "", 10, nil},
			{"p", holdEnd, "", 10, []string{"d5"}},
			{"p", x.AddDate(0, 0, 2), "", 10, []string{"d1", "d3", "d4", "d5"}},
			{"q", x, "", 10, []string{"d6"}},
			{"r", x, "", 10, nil},
		} {
			got, err := tx.DueMembers(ctx, c.programme, c.at, c.after, c.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("DueMembers(%q, %s, %q, %d)", c.programme, c.at.Format(time.RFC3339Nano), c.after, c.limit), got, c.want)
		}
		return nil
	})
}

func idemRecord(caller, key, response string) idem.Record {
	return idem.Record{Key: idem.Key{Caller: caller, Key: key}, Method: "Enrol", HashVersion: 3,
		Hash: []byte("hash of " + caller + "/" + key + "\x00\xff"), Response: []byte(response), CreatedAt: T0.Add(time.Second)}
}

// Replies returns the stored records of the keys asked for, with their hash
// version: a key is its caller's.
func replies(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	r1, r2, r3 := idemRecord("c1", "k1", `{"ID":"m-a"}`), idemRecord("c2", "k1", `{"ID":"m-b"}`), idemRecord("c1", "k2", `{}`)
	c := l.Enrolment(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: T0})
	c.Writes.Idem = []idem.Record{r1, r2}
	l.Save(c)
	c = l.Prepare("m-a", Earn(5, T0))
	c.Writes.Idem = []idem.Record{r3}
	l.Save(c)
	ctx := context.Background()
	got, err := s.Replies(ctx, []idem.Key{r1.Key, r2.Key, r3.Key, {Caller: "c2", Key: "k2"}, {Caller: "c3", Key: "k1"}})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Check(t, "Replies", got, map[idem.Key]idem.Record{r1.Key: r1, r2.Key: r2, r3.Key: r3})
	if got, err = s.Replies(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("Replies(none) = %v, %v; want none", got, err)
	}
}

// merge is the writes of several changes as one.
func merge(ws ...*posting.Writes) *posting.Writes {
	out := &posting.Writes{}
	for _, w := range ws {
		out.NewMembers = append(out.NewMembers, w.NewMembers...)
		out.Members = append(out.Members, w.Members...)
		out.Entries = append(out.Entries, w.Entries...)
		out.NewLots = append(out.NewLots, w.NewLots...)
		out.Lots = append(out.Lots, w.Lots...)
		out.Moves = append(out.Moves, w.Moves...)
		out.NewHolds = append(out.NewHolds, w.NewHolds...)
		out.Holds = append(out.Holds, w.Holds...)
		out.Idem = append(out.Idem, w.Idem...)
	}
	return out
}

// A Save that takes an idempotency key or an external ref already taken
// fails with posting.ErrConflict (wrapped), and its transaction writes
// nothing: neither what that Save held nor what the transaction saved
// before.
func conflictsWriteNothing(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	taken := idemRecord("c1", "k1", `{"ID":"m-a"}`)
	c := l.Enrolment(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: T0})
	c.Writes.Idem = []idem.Record{taken}
	l.Save(c)
	l.Do("m-a", Earn(100, T0))

	// Writes of a new member with an earn, and of an earn and a hold of
	// m-a, that conflicts keep from being saved.
	enrol := l.Enrolment(domain.Member{ID: "m-new", ProgrammeID: "p", ExternalRef: "card-new", EnrolledAt: T0},
		Earn(40, T0.Add(time.Hour)))
	aEarn := l.Prepare("m-a", Earn(7, T0.Add(time.Hour)))
	aHold := l.Prepare("m-a", HoldPoints(30, T0.Add(time.Hour), new(*domain.Hold)))

	ctx := context.Background()
	for _, c := range []struct {
		name string
		// saves are saved in order in one transaction; the last conflicts.
		saves []*posting.Writes
	}{
		{"an idempotency key taken", []*posting.Writes{
			merge(enrol.Writes, &posting.Writes{Idem: []idem.Record{idemRecord("c1", "k1", "other")}}),
		}},
		{"an idempotency key taken, after a save", []*posting.Writes{
			enrol.Writes,
			merge(aEarn.Writes, &posting.Writes{Idem: []idem.Record{idemRecord("c1", "k1", "other")}}),
		}},
		{"an idempotency key twice", []*posting.Writes{
			merge(aHold.Writes, &posting.Writes{Idem: []idem.Record{idemRecord("c2", "k2", "1"), idemRecord("c2", "k2", "2")}}),
		}},
		{"an external ref taken", []*posting.Writes{
			merge(aEarn.Writes, &posting.Writes{Idem: []idem.Record{idemRecord("c3", "k3", "")}}),
			l.Enrolment(domain.Member{ID: "m-other", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: T0}).Writes,
		}},
	} {
		var saveErr error
		err := s.Update(ctx, func(ctx context.Context, tx posting.Tx) error {
			for _, w := range c.saves {
				if saveErr = tx.Save(ctx, w); saveErr != nil {
					return saveErr
				}
			}
			return nil
		})
		if !errors.Is(saveErr, posting.ErrConflict) || !errors.Is(err, posting.ErrConflict) {
			t.Errorf("%s: Save: %v, Update: %v; want posting.ErrConflict from both", c.name, saveErr, err)
		}
	}

	// Nothing of those transactions was written.
	View(t, s, func(ctx context.Context, tx posting.Reader) error {
		ms, err := tx.Members(ctx, []string{"m-a", "m-new", "m-other"}, false)
		if err != nil {
			return err
		}
		storetest.Check(t, "Members", ms, map[string]*domain.Member{"m-a": l.Member("m-a")})
		es, err := tx.Entries(ctx, "m-a", 0, 100)
		if err != nil {
			return err
		}
		CheckEntries(t, "Entries(m-a)", es, l.Entries("m-a"))
		if es, err = tx.Entries(ctx, "m-new", 0, 100); err != nil {
			return err
		}
		CheckEntries(t, "Entries(m-new)", es, nil)
		lots, err := tx.OpenLots(ctx, []string{"m-a", "m-new"})
		if err != nil {
			return err
		}
		storetest.Check(t, "OpenLots", lotsByID(lots), l.Lots("m-a"))
		holds, err := tx.ActiveHolds(ctx, []string{"m-a"})
		if err != nil {
			return err
		}
		storetest.Check(t, "ActiveHolds", holds, []*domain.Hold(nil))
		for _, ref := range []string{"card-new"} {
			if id, ok, err := tx.MemberIDByRef(ctx, "p", ref); err != nil || ok {
				t.Errorf("MemberIDByRef(p, %s) = %q, %v, %v; want none", ref, id, ok, err)
			}
		}
		if id, ok, err := tx.MemberIDByRef(ctx, "p", "card-1"); err != nil || id != "m-a" || !ok {
			t.Errorf("MemberIDByRef(p, card-1) = %q, %v, %v; want m-a", id, ok, err)
		}
		return nil
	})
	got, err := s.Replies(ctx, []idem.Key{taken.Key, {Caller: "c2", Key: "k2"}, {Caller: "c3", Key: "k3"}})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Check(t, "Replies", got, map[idem.Key]idem.Record{taken.Key: taken})

	// The store goes on: the changes save once their conflict is gone.
	l.Save(aEarn)
	c = l.Prepare("m-a", Burn(3, domain.ChannelPOS, T0.Add(2*time.Hour)))
	c.Writes.Idem = []idem.Record{idemRecord("c2", "k2", "1")}
	l.Save(c)
	View(t, s, func(ctx context.Context, tx posting.Reader) error {
		ms, err := tx.Members(ctx, []string{"m-a"}, false)
		if err != nil {
			return err
		}
		storetest.Check(t, "Members after", ms, map[string]*domain.Member{"m-a": l.Member("m-a")})
		return nil
	})
}

// Update runs fn again after a conflict, so that concurrent read-modify-
// write transactions on one member (reading it with a lock, as the write
// path does) all land, none lost.
func concurrentUpdatesAllLand(t *testing.T, s posting.Store) {
	l := NewLedger(t, s)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: T0})
	prog, _ := l.Cfg.Programme("p")
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(context.Background(), func(ctx context.Context, tx posting.Tx) error {
				ms, err := tx.Members(ctx, []string{"m-a"}, true)
				if err != nil {
					return err
				}
				m := ms["m-a"]
				if m == nil {
					return errors.New("m-a not found")
				}
				b := domain.NewBook(*m, prog, l.NewID)
				if _, err := b.Earn(domain.EarnCmd{Points: int64(i + 1), OccurredAt: T0}, T0.Add(time.Hour)); err != nil {
					return err
				}
				b.RefreshDue()
				return tx.Save(ctx, writes(b))
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	View(t, s, func(ctx context.Context, tx posting.Reader) error {
		ms, err := tx.Members(ctx, []string{"m-a"}, false)
		if err != nil {
			return err
		}
		m := ms["m-a"]
		if m == nil || m.Available != n*(n+1)/2 || m.LifetimeEarned != n*(n+1)/2 || m.Seq != n {
			t.Errorf("after %d concurrent earns: %s", n, storetest.Show(m))
		}
		es, err := tx.Entries(ctx, "m-a", 0, 100)
		if err != nil {
			return err
		}
		var seqs []int64
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		if !slices.Equal(seqs, []int64{1, 2, 3, 4, 5, 6}) {
			t.Errorf("entries numbered %v, want 1..%d", seqs, n)
		}
		lots, err := tx.OpenLots(ctx, []string{"m-a"})
		if err != nil {
			return err
		}
		var sum int64
		for _, l := range lots {
			sum += l.Remaining
		}
		if len(lots) != n || sum != n*(n+1)/2 {
			t.Errorf("lots %s, want %d holding %d points", storetest.Show(lots), n, n*(n+1)/2)
		}
		return nil
	})
}
