package posting

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// uow is one transaction's unit of work: the member Books it loaded, and the
// idempotency records of the operations that succeeded. Operations run one
// after another against it; a failing operation's changes are rolled back
// in memory, so the others in its batch still commit.
type uow struct {
	s   *Service
	tx  Books
	now time.Time

	books map[string]*domain.Book
	// snap holds the Books as they were before the running operation first
	// touched them (nil: the operation created the member).
	snap map[string]*domain.Book
	// refs maps programme/external ref of members enrolled in this unit.
	refs map[string]string
	idem []idem.Record
}

func (s *Service) newUOW(tx Books, now time.Time) *uow {
	return &uow{s: s, tx: tx, now: now, books: map[string]*domain.Book{}, snap: map[string]*domain.Book{}, refs: map[string]string{}}
}

// preload loads, with a handful of queries, the members of a batch, and
// the lots of those whose operations spend points or have something due.
func (u *uow) preload(ctx context.Context, ops []*op) error {
	var ids []string
	for _, o := range ops {
		if _, ok := u.books[o.member]; !ok && o.member != "" && !slices.Contains(ids, o.member) {
			ids = append(ids, o.member)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids) // lock rows in a fixed order
	if err := u.load(ctx, ids, true); err != nil {
		return err
	}
	var need []*domain.Book
	for _, o := range ops {
		if b := u.books[o.member]; b != nil && !b.LotsLoaded && (o.needLots || b.Member.Due(u.now)) && !slices.Contains(need, b) {
			need = append(need, b)
		}
	}
	return u.loadLots(ctx, need)
}

// load reads members into Books; lock takes their rows for update.
func (u *uow) load(ctx context.Context, ids []string, lock bool) error {
	members, err := u.tx.Members(ctx, ids, lock)
	if err != nil {
		return err
	}
	for id, m := range members {
		prog, ok := u.s.cfg.Programme(m.ProgrammeID)
		if !ok {
			return fmt.Errorf("member %s: programme %q is not configured", id, m.ProgrammeID)
		}
		u.books[id] = domain.NewBook(*m, prog, u.s.newID)
	}
	return nil
}

// loadLots loads the open lots of Books, their active holds (only members
// with held points have any) and the lots those holds drew from.
func (u *uow) loadLots(ctx context.Context, books []*domain.Book) error {
	if len(books) == 0 {
		return nil
	}
	ids := make([]string, 0, len(books))
	var holders []string
	for _, b := range books {
		ids = append(ids, b.Member.ID)
		if b.Member.Held > 0 {
			holders = append(holders, b.Member.ID)
		}
	}
	lots, err := u.tx.OpenLots(ctx, ids)
	if err != nil {
		return err
	}
	var holds []*domain.Hold
	if len(holders) > 0 {
		if holds, err = u.tx.ActiveHolds(ctx, holders); err != nil {
			return err
		}
	}
	lotsBy := map[string][]*domain.Lot{}
	for _, l := range lots {
		lotsBy[l.MemberID] = append(lotsBy[l.MemberID], l)
	}
	holdsBy := map[string][]*domain.Hold{}
	owners := map[string]*domain.Book{}
	for _, h := range holds {
		holdsBy[h.MemberID] = append(holdsBy[h.MemberID], h)
		owners[h.EntryID] = u.books[h.MemberID]
	}
	for _, b := range books {
		b.LoadLots(lotsBy[b.Member.ID], holdsBy[b.Member.ID])
	}
	// Active holds may be released: load the lots they drew from.
	if len(owners) > 0 {
		return u.loadOrigins(ctx, owners)
	}
	return nil
}

// loadOrigins loads the lot moves of origin entries, and the lots they
// touched, into the Book each origin belongs to.
func (u *uow) loadOrigins(ctx context.Context, owners map[string]*domain.Book) error {
	moves, err := u.tx.OriginMoves(ctx, slices.Sorted(maps.Keys(owners)))
	if err != nil {
		return err
	}
	byOrigin := map[string][]domain.LotMove{}
	var lotIDs []string
	for _, m := range moves {
		byOrigin[m.OriginEntryID] = append(byOrigin[m.OriginEntryID], m)
		lotIDs = append(lotIDs, m.LotID)
	}
	lots, err := u.tx.LotsByID(ctx, lotIDs)
	if err != nil {
		return err
	}
	for _, l := range lots {
		if b := u.books[l.MemberID]; b != nil {
			b.AddLots([]*domain.Lot{l})
		}
	}
	for o, b := range owners {
		b.AddOriginMoves(o, byOrigin[o])
	}
	return nil
}

// touch returns a member's Book for the running operation, loading it if
// needed, and remembers its state so that the operation can be undone.
func (u *uow) touch(ctx context.Context, memberID string) (*domain.Book, error) {
	b, ok := u.books[memberID]
	if !ok {
		if err := u.load(ctx, []string{memberID}, true); err != nil {
			return nil, err
		}
		if b, ok = u.books[memberID]; !ok {
			return nil, fault.NotFound(fault.MemberNotFound, "member %s not found", memberID)
		}
	}
	if _, saved := u.snap[memberID]; !saved {
		u.snap[memberID] = b.Clone()
	}
	return b, nil
}

// member is touch, loading the lots if the operation needs them, followed
// by settling what time has made due, which every operation does first.
// member loads a member's Book for an operation by who (a member of
// another programme than who's is PermissionDenied), with its lots if
// needLots, settled as of now. The Book records who makes the operation.
func (u *uow) member(ctx context.Context, who principal.Principal, memberID string, needLots bool) (*domain.Book, error) {
	b, err := u.touch(ctx, memberID)
	if err != nil {
		return nil, err
	}
	if err := who.CheckProgramme(b.Member.ProgrammeID); err != nil {
		return nil, err
	}
	b.SetCaller(who.ID)
	if needLots && !b.LotsLoaded {
		if err := u.loadLots(ctx, []*domain.Book{b}); err != nil {
			return nil, err
		}
	}
	return b, u.settle(ctx, b)
}

// settle settles what is due on b by now (pending points to release, lots
// to expire, holds to let go), loading its lots first when something is.
// An operation can make something due: a backdated earn whose lot has
// expired already, points refunded into a lot that has expired since.
func (u *uow) settle(ctx context.Context, b *domain.Book) error {
	if b.RefreshDue(); !b.LotsLoaded && b.Member.Due(u.now) {
		if err := u.loadLots(ctx, []*domain.Book{b}); err != nil {
			return err
		}
	}
	b.Settle(u.now, u.now)
	return nil
}

// create adds a new member's Book.
func (u *uow) create(b *domain.Book) {
	u.books[b.Member.ID] = b
	u.snap[b.Member.ID] = nil
	u.refs[b.Member.ProgrammeID+"\x00"+b.Member.ExternalRef] = b.Member.ID
}

// begin starts an operation.
func (u *uow) begin() { clear(u.snap) }

// rollback undoes the running operation.
func (u *uow) rollback() {
	for id, b := range u.snap {
		if b == nil {
			m := u.books[id].Member
			delete(u.refs, m.ProgrammeID+"\x00"+m.ExternalRef)
			delete(u.books, id)
		} else {
			u.books[id] = b
		}
	}
	clear(u.snap)
}

// writes collects what the unit changed, in a deterministic order.
func (u *uow) writes() *Writes {
	w := &Writes{Idem: u.idem}
	for _, id := range slices.Sorted(maps.Keys(u.books)) {
		b := u.books[id]
		m := b.Member
		switch {
		case b.New:
			w.NewMembers = append(w.NewMembers, &m)
		case b.MemberDirty:
			w.Members = append(w.Members, &m)
		}
		w.Entries = append(w.Entries, b.NewEntries...)
		w.Moves = append(w.Moves, b.NewMoves...)
		for _, lid := range slices.Sorted(maps.Keys(b.DirtyLots)) {
			if b.NewLots[lid] {
				w.NewLots = append(w.NewLots, b.Lots[lid])
			} else {
				w.Lots = append(w.Lots, b.Lots[lid])
			}
		}
		for _, hid := range slices.Sorted(maps.Keys(b.DirtyHolds)) {
			if b.NewHolds[hid] {
				w.NewHolds = append(w.NewHolds, b.Holds[hid])
			} else {
				w.Holds = append(w.Holds, b.Holds[hid])
			}
		}
	}
	return w
}
