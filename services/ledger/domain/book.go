package domain

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Book is one member's ledger state as loaded for an operation: the member
// and, once LoadLots ran, every open lot (points remaining or pending) and
// every active hold, plus any closed lots, holds and lot moves a reversal
// needs. Earning needs only the member; spending needs the lots. Operations
// mutate the Book and record what changed.
type Book struct {
	Member Member
	Prog   *Programme

	// LotsLoaded tells whether Lots and Holds hold every open lot and
	// active hold; before, they hold only what this Book created.
	LotsLoaded bool
	Lots       map[string]*Lot
	Holds      map[string]*Hold
	// Moves are the loaded lot moves of the origins a reversal needs
	// (see LotMove), plus every move this Book recorded.
	Moves []LotMove

	// What changed since the Book was loaded.
	New          bool
	MemberDirty  bool
	NewEntries   []*Entry
	NewMoves     []LotMove
	DirtyLots    map[string]bool // changed or created
	NewLots      map[string]bool // created
	DirtyHolds   map[string]bool
	NewHolds     map[string]bool
	loadedOrigin map[string]bool

	newID  func() string
	caller string
}

// NewBook wraps a loaded member.
func NewBook(m Member, prog *Programme, newID func() string) *Book {
	return &Book{
		Member:       m,
		Prog:         prog,
		Lots:         map[string]*Lot{},
		Holds:        map[string]*Hold{},
		DirtyLots:    map[string]bool{},
		NewLots:      map[string]bool{},
		DirtyHolds:   map[string]bool{},
		NewHolds:     map[string]bool{},
		loadedOrigin: map[string]bool{},
		newID:        newID,
	}
}

// LoadLots adds the member's stored open lots and active holds. What the
// Book changed or created since it was loaded stays as it is.
func (b *Book) LoadLots(lots []*Lot, holds []*Hold) {
	b.AddLots(lots)
	for _, h := range holds {
		b.AddHold(h)
	}
	b.LotsLoaded = true
}

func (b *Book) needLots() {
	if !b.LotsLoaded {
		panic("ledger: lots of member " + b.Member.ID + " not loaded")
	}
}

// lotDue is when a lot next needs settling (zero: never).
func lotDue(l *Lot) time.Time {
	switch {
	case l.Pending:
		return l.AvailableAt
	case l.Remaining > 0:
		return l.ExpiresAt
	}
	return time.Time{}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// RefreshDue recomputes Member.NextDueAt, the earliest time something of
// the member's falls due (a pending lot's release, a lot's expiry, a hold's
// end): exactly when the lots are loaded, else folding in the lots this
// Book created, which is exact too because only loaded Books consume lots.
func (b *Book) RefreshDue() {
	next := time.Time{}
	if !b.LotsLoaded {
		next = b.Member.NextDueAt
	}
	for _, l := range b.Lots {
		next = earliest(next, lotDue(l))
	}
	for _, h := range b.Holds {
		if h.Status == HoldActive {
			next = earliest(next, h.ExpiresAt)
		}
	}
	if !next.Equal(b.Member.NextDueAt) {
		b.Member.NextDueAt = next
		b.MemberDirty = true
	}
}

// SetCaller names who is making the current operation; entries record it.
func (b *Book) SetCaller(caller string) { b.caller = caller }

// AddLots adds closed lots a reversal needs to the Book.
func (b *Book) AddLots(lots []*Lot) {
	for _, l := range lots {
		if _, ok := b.Lots[l.ID]; !ok {
			b.Lots[l.ID] = l
		}
	}
}

// AddHold adds a closed hold to the Book.
func (b *Book) AddHold(h *Hold) {
	if _, ok := b.Holds[h.ID]; !ok {
		b.Holds[h.ID] = h
	}
}

// AddOriginMoves adds the stored lot moves of an origin entry.
func (b *Book) AddOriginMoves(origin string, moves []LotMove) {
	if b.loadedOrigin[origin] {
		return
	}
	b.loadedOrigin[origin] = true
	b.Moves = append(b.Moves, moves...)
}

// HasOrigin tells whether the moves of an origin entry are loaded.
func (b *Book) HasOrigin(origin string) bool { return b.loadedOrigin[origin] }

// Clone copies the Book so that a failed operation can be undone.
func (b *Book) Clone() *Book {
	c := *b
	c.Lots = make(map[string]*Lot, len(b.Lots))
	for id, l := range b.Lots {
		cp := *l
		c.Lots[id] = &cp
	}
	c.Holds = make(map[string]*Hold, len(b.Holds))
	for id, h := range b.Holds {
		cp := *h
		c.Holds[id] = &cp
	}
	c.Moves = slices.Clone(b.Moves)
	c.NewEntries = slices.Clone(b.NewEntries)
	c.NewMoves = slices.Clone(b.NewMoves)
	c.DirtyLots = maps.Clone(b.DirtyLots)
	c.NewLots = maps.Clone(b.NewLots)
	c.DirtyHolds = maps.Clone(b.DirtyHolds)
	c.NewHolds = maps.Clone(b.NewHolds)
	c.loadedOrigin = maps.Clone(b.loadedOrigin)
	return &c
}

// account is a side of a transfer; bal is nil for system accounts, whose
// balances are only ever the sum of their postings.
type account struct {
	name string
	bal  *int64
}

func (b *Book) available() account {
	return account{MemberAccount(b.Member.ID, BucketAvailable), &b.Member.Available}
}
func (b *Book) pending() account {
	return account{MemberAccount(b.Member.ID, BucketPending), &b.Member.Pending}
}
func (b *Book) held() account {
	return account{MemberAccount(b.Member.ID, BucketHeld), &b.Member.Held}
}
func (b *Book) system(name string) account {
	return account{name: ProgrammeAccount(b.Member.ProgrammeID, name)}
}

// issuer is where earned points come from: the partner that funds them, or
// the programme's issuance.
func (b *Book) issuer(partnerID string) account {
	if partnerID != "" {
		return account{name: PartnerAccount(partnerID)}
	}
	return b.system(AccountIssuance)
}

// redeemer is where spent points go: the partner they are spent with, or
// the programme's redemption account.
func (b *Book) redeemer(partnerID string) account {
	if partnerID != "" {
		return account{name: PartnerAccount(partnerID)}
	}
	return b.system(AccountRedemption)
}

// System account names.
const (
	AccountIssuance   = "issuance"
	AccountRedemption = "redemption"
	AccountExpired    = "expired"
	AccountAdjustment = "adjustment"
)

func (b *Book) begin(kind EntryKind, occurred, now time.Time) *Entry {
	return &Entry{
		ID:            b.newID(),
		MemberID:      b.Member.ID,
		ProgrammeID:   b.Member.ProgrammeID,
		Kind:          kind,
		OccurredAt:    occurred,
		RecordedAt:    now,
		ConfigVersion: b.Prog.Version,
		Caller:        b.caller,
	}
}

// transfer moves n points between two accounts within entry e.
func (b *Book) transfer(e *Entry, from, to account, n int64) {
	if n == 0 {
		return
	}
	e.Postings = addPosting(e.Postings, from.name, -n)
	e.Postings = addPosting(e.Postings, to.name, n)
	if from.bal != nil {
		*from.bal -= n
	}
	if to.bal != nil {
		*to.bal += n
	}
}

func addPosting(ps []Posting, acct string, n int64) []Posting {
	for i := range ps {
		if ps[i].Account == acct {
			ps[i].Amount += n
			return ps
		}
	}
	return append(ps, Posting{Account: acct, Amount: n})
}

func (b *Book) finish(e *Entry, now time.Time) {
	var sum int64
	for _, p := range e.Postings {
		sum += p.Amount
	}
	if sum != 0 {
		panic(fmt.Sprintf("ledger: entry %s postings sum to %d", e.ID, sum))
	}
	b.Member.Seq++
	e.Seq = b.Member.Seq
	e.AvailableAfter, e.PendingAfter, e.HeldAfter = b.Member.Available, b.Member.Pending, b.Member.Held
	b.Member.UpdatedAt = now
	b.MemberDirty = true
	b.NewEntries = append(b.NewEntries, e)
}

func (b *Book) moveLot(e *Entry, l *Lot, origin string, n int64) {
	if n == 0 {
		return
	}
	l.Remaining += n
	if l.Remaining < 0 {
		panic(fmt.Sprintf("ledger: lot %s below zero", l.ID))
	}
	b.DirtyLots[l.ID] = true
	b.Moves = addMove(b.Moves, e.ID, l.ID, origin, n)
	b.NewMoves = addMove(b.NewMoves, e.ID, l.ID, origin, n)
}

// addMove records a move, folding it into the entry's earlier move of the
// same lot and origin: one entry moves a lot at most once per origin.
func addMove(ms []LotMove, entryID, lotID, origin string, n int64) []LotMove {
	for i := len(ms) - 1; i >= 0 && ms[i].EntryID == entryID; i-- {
		if ms[i].LotID == lotID && ms[i].OriginEntryID == origin {
			ms[i].Points += n
			if ms[i].Points == 0 {
				ms = slices.Delete(ms, i, i+1)
			}
			return ms
		}
	}
	return append(ms, LotMove{EntryID: entryID, LotID: lotID, OriginEntryID: origin, Points: n})
}

// creditLot puts n available points into lot l for origin, repaying debt
// from them first.
func (b *Book) creditLot(e *Entry, l *Lot, origin string, n int64) {
	b.moveLot(e, l, origin, n)
	if d := min(b.Member.Debt, l.Remaining); d > 0 {
		b.moveLot(e, l, e.ID, -d)
		b.Member.Debt -= d
	}
}

func (b *Book) newLot(e *Entry, now time.Time) *Lot {
	l := &Lot{ID: b.newID(), MemberID: b.Member.ID, SourceEntryID: e.ID, CreatedAt: now}
	b.Lots[l.ID] = l
	b.DirtyLots[l.ID] = true
	b.NewLots[l.ID] = true
	return l
}

// spendable is the available lots with points, in spending order.
func (b *Book) spendable() []*Lot {
	b.needLots()
	var ls []*Lot
	for _, l := range b.Lots {
		if !l.Pending && l.Remaining > 0 {
			ls = append(ls, l)
		}
	}
	slices.SortFunc(ls, fifoCmp)
	return ls
}

// drawFIFO takes up to n points from available lots, earliest expiry first,
// preferring the lot first if given, and returns how many it took.
func (b *Book) drawFIFO(e *Entry, origin string, n int64, first *Lot) int64 {
	taken := int64(0)
	take := func(l *Lot) {
		t := min(n-taken, l.Remaining)
		b.moveLot(e, l, origin, -t)
		taken += t
	}
	if first != nil && !first.Pending && first.Remaining > 0 {
		take(first)
	}
	for _, l := range b.spendable() {
		if taken == n {
			break
		}
		take(l)
	}
	return taken
}

// restoreLIFO puts n points drawn for origin back into the lots they came
// from, latest expiry first.
func (b *Book) restoreLIFO(e *Entry, origin string, n int64) {
	b.needLots()
	drawn := b.netDrawn(origin)
	lots := make([]*Lot, 0, len(drawn))
	for id := range drawn {
		lots = append(lots, b.Lots[id])
	}
	slices.SortFunc(lots, func(x, y *Lot) int { return fifoCmp(y, x) })
	for _, l := range lots {
		if n == 0 {
			return
		}
		t := min(n, drawn[l.ID])
		b.creditLot(e, l, origin, t)
		n -= t
	}
	if n != 0 {
		panic(fmt.Sprintf("ledger: %d points of origin %s have no lot to return to", n, origin))
	}
}

// netDrawn is, per lot, the points drawn for origin and not yet returned.
func (b *Book) netDrawn(origin string) map[string]int64 {
	if !b.loadedOrigin[origin] {
		panic("ledger: moves of origin " + origin + " not loaded")
	}
	net := map[string]int64{}
	for _, m := range b.Moves {
		if m.OriginEntryID == origin {
			net[m.LotID] -= m.Points
		}
	}
	for id, v := range net {
		if v <= 0 {
			delete(net, id)
		} else if b.Lots[id] == nil {
			panic("ledger: lot " + id + " of origin " + origin + " not loaded")
		}
	}
	return net
}

func sumValues(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// Check verifies the Book's invariants: the balances agree with the lots and
// holds, nothing is below its floor.
func (b *Book) Check() error {
	m := b.Member
	switch {
	case m.Available < b.Prog.Floor:
		return fmt.Errorf("member %s available %d below floor %d", m.ID, m.Available, b.Prog.Floor)
	case m.Pending < 0 || m.Held < 0 || m.Debt < 0:
		return fmt.Errorf("member %s has a negative bucket: pending %d held %d debt %d", m.ID, m.Pending, m.Held, m.Debt)
	case !b.LotsLoaded:
		return nil
	}
	var active, pending, held int64
	for _, l := range b.Lots {
		if l.Remaining < 0 {
			return fmt.Errorf("lot %s remaining %d < 0", l.ID, l.Remaining)
		}
		if l.Pending {
			pending += l.Remaining
		} else {
			active += l.Remaining
		}
	}
	for _, h := range b.Holds {
		held += h.Outstanding()
	}
	switch {
	case m.Debt > 0 && active > 0:
		return fmt.Errorf("member %s owes %d while holding %d available lot points", m.ID, m.Debt, active)
	case active-m.Debt != m.Available:
		return fmt.Errorf("member %s available %d != lots %d - debt %d", m.ID, m.Available, active, m.Debt)
	case pending != m.Pending:
		return fmt.Errorf("member %s pending %d != pending lots %d", m.ID, m.Pending, pending)
	case held != m.Held:
		return fmt.Errorf("member %s held %d != active holds %d", m.ID, m.Held, held)
	}
	return nil
}
