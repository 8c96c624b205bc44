// Package postingtest states what any implementation of posting.Store must
// do (Contract), through the interface only, and builds ledger fixtures
// with the domain's operations (Ledger), so that what is saved is what the
// write path would save: consistent members, entries, lots, holds and
// moves.
package postingtest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// ConfigYAML is the programmes fixtures are made in, all in UTC and euros:
// "p" has a 14-day return window on purchase points, lots that expire 12
// months after they become available, a floor of -100 and holds of up to
// an hour; "q" is the same without the return window.
const ConfigYAML = `
version: 3
programmes:
  - id: p
    currency: EUR
    earning:
      rates: {EUR: "1"}
    pending_days: 14
    expiry: {policy: lot, months: 12}
    floor: -100
    holds: {default_ttl: 10m, max_ttl: 1h}
  - id: q
    currency: EUR
    earning:
      rates: {EUR: "1"}
    pending_days: 0
    expiry: {policy: lot, months: 12}
    floor: -100
    holds: {default_ttl: 10m, max_ttl: 1h}
`

// Config parses ConfigYAML.
func Config(t testing.TB) *domain.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(ConfigYAML))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// T0 is when fixtures start: a Monday, 10:00 UTC.
var T0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

// Caller is who the fixtures' operations are made by.
const Caller = "contract"

// Ledger makes ledger fixtures: it keeps each member's whole state in
// memory (what the store should hold), runs domain operations on a Book
// made from it, and saves what they changed through the store, in one
// Update each, as the write path does.
type Ledger struct {
	Store posting.Store
	Cfg   *domain.Config
	t     testing.TB
	n     atomic.Int64

	members map[string]*record
	entries map[string]*domain.Entry
}

// record is what the store should hold of one member.
type record struct {
	member  domain.Member
	lots    map[string]*domain.Lot
	holds   map[string]*domain.Hold
	moves   []domain.LotMove
	entries []*domain.Entry
}

// NewLedger starts fixtures on a store, in the programmes of Config.
func NewLedger(t testing.TB, s posting.Store) *Ledger {
	return &Ledger{Store: s, Cfg: Config(t), t: t, members: map[string]*record{}, entries: map[string]*domain.Entry{}}
}

// NewID is a fresh id for an entry, lot or hold: ids sort in the order
// they were made.
func (l *Ledger) NewID() string { return fmt.Sprintf("id-%06d", l.n.Add(1)) }

// Change is what one operation changed, ready to save.
type Change struct {
	Writes *posting.Writes
	// Entries are the entries the operation made.
	Entries []*domain.Entry
	book    *domain.Book
}

// Enrolment is the change that enrols m (ID, ProgrammeID, ExternalRef and
// EnrolledAt set; UpdatedAt defaults to EnrolledAt) and runs ops on the
// new member's Book, unsaved.
func (l *Ledger) Enrolment(m domain.Member, ops ...func(b *domain.Book) error) *Change {
	l.t.Helper()
	prog, ok := l.Cfg.Programme(m.ProgrammeID)
	if !ok {
		l.t.Fatalf("no programme %q", m.ProgrammeID)
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.EnrolledAt
	}
	b := domain.NewBook(m, prog, l.NewID)
	b.LoadLots(nil, nil)
	b.New = true
	return l.run(b, ops...)
}

// Enrol saves a new member (see Enrolment) and returns it as stored.
func (l *Ledger) Enrol(m domain.Member) *domain.Member {
	l.t.Helper()
	l.Save(l.Enrolment(m))
	return l.Member(m.ID)
}

// Prepare runs op on the member's Book — every lot, hold and lot move of
// the member loaded — and returns what it changed, unsaved. op must
// succeed, and leave the Book's invariants holding.
func (l *Ledger) Prepare(memberID string, op func(b *domain.Book) error) *Change {
	l.t.Helper()
	r := l.members[memberID]
	if r == nil {
		l.t.Fatalf("member %s is not enrolled", memberID)
	}
	prog, _ := l.Cfg.Programme(r.member.ProgrammeID)
	b := domain.NewBook(r.member, prog, l.NewID)
	var lots []*domain.Lot
	for _, lot := range r.lots {
		c := *lot
		lots = append(lots, &c)
	}
	var holds []*domain.Hold
	for _, h := range r.holds {
		c := *h
		holds = append(holds, &c)
	}
	b.LoadLots(lots, holds)
	byOrigin := map[string][]domain.LotMove{}
	for _, m := range r.moves {
		byOrigin[m.OriginEntryID] = append(byOrigin[m.OriginEntryID], m)
	}
	for o, ms := range byOrigin {
		b.AddOriginMoves(o, ms)
	}
	return l.run(b, op)
}

// run runs ops on b and returns what they changed.
func (l *Ledger) run(b *domain.Book, ops ...func(b *domain.Book) error) *Change {
	l.t.Helper()
	b.SetCaller(Caller)
	for _, op := range ops {
		if err := op(b); err != nil {
			l.t.Fatalf("fixture operation on %s: %v", b.Member.ID, err)
		}
		b.RefreshDue()
		if err := b.Check(); err != nil {
			l.t.Fatalf("fixture operation on %s: %v", b.Member.ID, err)
		}
	}
	return &Change{Writes: writes(b), Entries: b.NewEntries, book: b}
}

// Do runs op on the member's Book (see Prepare), saves what it changed and
// returns the entries it made.
func (l *Ledger) Do(memberID string, op func(b *domain.Book) error) []*domain.Entry {
	l.t.Helper()
	c := l.Prepare(memberID, op)
	l.Save(c)
	return c.Entries
}

// Save saves a change in one Update and records it as saved.
func (l *Ledger) Save(c *Change) {
	l.t.Helper()
	err := l.Store.Update(context.Background(), func(ctx context.Context, tx posting.Tx) error {
		return tx.Save(ctx, c.Writes)
	})
	if err != nil {
		l.t.Fatalf("save: %v", err)
	}
	l.Commit(c)
}

// Commit records a change saved some other way (see Prepare).
func (l *Ledger) Commit(c *Change) {
	b := c.book
	r := l.members[b.Member.ID]
	if r == nil {
		r = &record{lots: map[string]*domain.Lot{}, holds: map[string]*domain.Hold{}}
		l.members[b.Member.ID] = r
	}
	r.member = b.Member
	for _, lot := range b.Lots {
		c := *lot
		r.lots[lot.ID] = &c
	}
	for _, h := range b.Holds {
		c := *h
		r.holds[h.ID] = &c
	}
	r.moves = append(r.moves, b.NewMoves...)
	r.entries = append(r.entries, b.NewEntries...)
	for _, e := range b.NewEntries {
		l.entries[e.ID] = e
	}
}

// writes is what a Book changed, in a deterministic order, as the write
// path collects it.
func writes(b *domain.Book) *posting.Writes {
	w := &posting.Writes{}
	m := b.Member
	switch {
	case b.New:
		w.NewMembers = append(w.NewMembers, &m)
	case b.MemberDirty:
		w.Members = append(w.Members, &m)
	}
	w.Entries = slices.Clone(b.NewEntries)
	w.Moves = slices.Clone(b.NewMoves)
	for _, id := range slices.Sorted(maps.Keys(b.DirtyLots)) {
		c := *b.Lots[id]
		if b.NewLots[id] {
			w.NewLots = append(w.NewLots, &c)
		} else {
			w.Lots = append(w.Lots, &c)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(b.DirtyHolds)) {
		c := *b.Holds[id]
		if b.NewHolds[id] {
			w.NewHolds = append(w.NewHolds, &c)
		} else {
			w.Holds = append(w.Holds, &c)
		}
	}
	return w
}

// Member is a member as the store should hold it (its Tier is the one
// last projected, which fixtures do not know: "").
func (l *Ledger) Member(id string) *domain.Member {
	r := l.members[id]
	if r == nil {
		return nil
	}
	m := r.member
	return &m
}

// Lots are a member's lots, in id order.
func (l *Ledger) Lots(memberID string) []*domain.Lot {
	var out []*domain.Lot
	if r := l.members[memberID]; r != nil {
		for _, id := range slices.Sorted(maps.Keys(r.lots)) {
			c := *r.lots[id]
			out = append(out, &c)
		}
	}
	return out
}

// Lot is a lot as the store should hold it.
func (l *Ledger) Lot(id string) *domain.Lot {
	for _, r := range l.members {
		if lot := r.lots[id]; lot != nil {
			c := *lot
			return &c
		}
	}
	return nil
}

// Holds are a member's holds, in id order.
func (l *Ledger) Holds(memberID string) []*domain.Hold {
	var out []*domain.Hold
	if r := l.members[memberID]; r != nil {
		for _, id := range slices.Sorted(maps.Keys(r.holds)) {
			c := *r.holds[id]
			out = append(out, &c)
		}
	}
	return out
}

// Hold is a hold as the store should hold it.
func (l *Ledger) Hold(id string) *domain.Hold {
	for _, r := range l.members {
		if h := r.holds[id]; h != nil {
			c := *h
			return &c
		}
	}
	return nil
}

// Moves are a member's lot moves.
func (l *Ledger) Moves(memberID string) []domain.LotMove {
	if r := l.members[memberID]; r != nil {
		return slices.Clone(r.moves)
	}
	return nil
}

// Entries are a member's entries, in sequence order.
func (l *Ledger) Entries(memberID string) []*domain.Entry {
	if r := l.members[memberID]; r != nil {
		return slices.Clone(r.entries)
	}
	return nil
}

// Entry is an entry saved.
func (l *Ledger) Entry(id string) *domain.Entry { return l.entries[id] }

// Clawbacks are the clawbacks of an entry saved, in sequence order.
func (l *Ledger) Clawbacks(entryID string) []*domain.Entry {
	var out []*domain.Entry
	for _, e := range l.entries {
		if e.ReversesEntryID == entryID && e.Kind == domain.EntryClawback {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *domain.Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Earn is an operation earning explicit points at a time.
func Earn(points int64, at time.Time) func(b *domain.Book) error {
	return func(b *domain.Book) error {
		_, err := b.Earn(domain.EarnCmd{Points: points, OccurredAt: at}, at)
		return err
	}
}
