package domain

import (
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
)

// Member event types: what marketing automation can trigger on.
const (
	EventEarned         = "earned"
	EventBurned         = "burned"
	EventReversed       = "reversed"
	EventExpired        = "expired"
	EventAdjusted       = "adjusted"
	EventPointsExpiring = "points_expiring"
	EventTierUp         = "tier_up"
	EventTierDown       = "tier_down"
	EventSegmentChanged = "segment_changed"
	EventInactive       = "inactive"
	EventBirthday       = "birthday"
)

// MemberEvent is one event of the member stream. EventID is stable: the
// same fact always has the same id, however often it is projected.
type MemberEvent struct {
	EventID     string
	MemberID    string
	ProgrammeID string
	Type        string
	At          time.Time
	EntryID     string
	Points      int64
	From, To    string
	Detail      string
}

// Transition kinds.
const (
	TransitionTier    = "tier"
	TransitionSegment = "segment"
)

// Transition is a change of a member's tier or segment.
type Transition struct {
	ID          string
	MemberID    string
	ProgrammeID string
	Kind        string
	From, To    string
	At          time.Time
	Cause       string
}

// MemberStatus is a member's derived status. ProjectedSeq is the sequence
// of the last entry it reflects: the projection's checkpoint.
type MemberStatus struct {
	MemberID     string
	ProgrammeID  string
	ProjectedSeq int64
	// Tier, TierSince, TierValidUntil (zero for the base tier) and
	// TierFloor (the manual floor, "" for none).
	Tier           string
	TierSince      time.Time
	TierValidUntil time.Time
	TierFloor      string
	FirstPurchase  time.Time
	LastPurchase   time.Time
	Purchases      int64
	SpendMicros    int64
	R, F, M        int
	Segment        string
	SegmentSince   time.Time
}

// Purchase is a purchase earn (positive amounts) or a clawback of one
// (negative), in the programme's currency, in millionths.
type Purchase struct {
	EntryID string
	// Return marks a clawback of a purchase; a purchase of nothing (a
	// fully discounted receipt) is still a purchase.
	Return       bool
	OccurredAt   time.Time
	QualifiesAt  time.Time // when the purchase happened: returns count against it
	RecordedAt   time.Time
	SpendMicros  int64
	StatusPoints int64
	Points       int64
}

// StatusBook projects one member's entries, in sequence order, into its
// status, purchases, transitions and events.
type StatusBook struct {
	Prog      *Programme
	Status    MemberStatus
	Purchases []Purchase
	tiers     *TierBook
	// clawbacks holds, per reversed entry, its clawbacks projected so far.
	clawbacks map[string][]*Entry

	New            bool
	NewPurchases   []Purchase
	NewTransitions []Transition
	NewEvents      []MemberEvent
}

// NewStatusBook wraps a member's stored status and purchases.
func NewStatusBook(prog *Programme, st MemberStatus, purchases []Purchase) *StatusBook {
	sb := &StatusBook{Prog: prog, Status: st, Purchases: purchases, clawbacks: map[string][]*Entry{}}
	if prog.Tiers != nil {
		level, _ := prog.Tiers.Level(st.Tier)
		floor, _ := prog.Tiers.Level(st.TierFloor)
		sb.tiers = &TierBook{Policy: prog.Tiers, State: TierState{Level: level, Since: st.TierSince, ValidUntil: st.TierValidUntil, Floor: floor}}
		if sb.Status.Tier == "" {
			sb.Status.Tier = prog.Tiers.Levels[0].ID
		}
		for _, p := range purchases {
			sb.tiers.Contribs = append(sb.tiers.Contribs, sb.contribution(p))
		}
	}
	return sb
}

// TierBook is the member's tier book (nil: the programme has no tiers).
func (sb *StatusBook) TierBook() *TierBook { return sb.tiers }

func (sb *StatusBook) contribution(p Purchase) Contribution {
	amount := decimal.NewFromInt(p.StatusPoints)
	if sb.Prog.Tiers.Basis == TierBasisSpend {
		amount = money.FromMicros(p.SpendMicros)
	}
	return Contribution{EntryID: p.EntryID, OccurredAt: p.QualifiesAt, RecordedAt: p.RecordedAt, Amount: amount}
}

func (sb *StatusBook) event(typ string, e *Entry, points int64, detail string) {
	sb.NewEvents = append(sb.NewEvents, MemberEvent{
		EventID: "entry:" + e.ID, MemberID: sb.Status.MemberID, ProgrammeID: sb.Status.ProgrammeID, Type: typ,
		At: e.OccurredAt, EntryID: e.ID, Points: points, Detail: detail,
	})
}

// Apply projects the member's next entry; entries already projected are
// skipped, so applying twice changes nothing.
func (sb *StatusBook) Apply(e *Entry) {
	if e.Seq <= sb.Status.ProjectedSeq {
		return
	}
	sb.Status.ProjectedSeq = e.Seq
	if sb.tiers != nil {
		sb.tierChanges(sb.tiers.CloseUntil(e.RecordedAt))
	}
	switch e.Kind {
	case EntryEarn:
		sb.event(EventEarned, e, e.Points, string(e.Channel))
		if e.Purchase != nil {
			sb.addPurchase(Purchase{
				EntryID: e.ID, OccurredAt: e.OccurredAt, QualifiesAt: e.OccurredAt, RecordedAt: e.RecordedAt,
				SpendMicros: money.Micros(sb.Prog.QualifyingSpend(*e.Purchase)), StatusPoints: e.BasePoints, Points: e.Points,
			})
		}
	case EntryClawback:
		sb.event(EventReversed, e, e.Points, "clawback")
		sb.clawback(e)
	case EntryBurn, EntryCapture:
		sb.event(EventBurned, e, e.Points, string(e.Channel))
	case EntryRefund:
		sb.event(EventReversed, e, e.Points, "refund")
	case EntryExpiry:
		sb.event(EventExpired, e, e.Points, "")
	case EntryAdjustment:
		points := e.Points
		for _, p := range e.Postings {
			if p.Account == MemberAccount(e.MemberID, BucketAvailable) && p.Amount < 0 {
				points = -e.Points
			}
		}
		sb.event(EventAdjusted, e, points, e.Reason)
	case EntryTierFloor:
		if sb.tiers != nil {
			level, _ := sb.Prog.Tiers.Level(e.Tier) // "" (clear) is level 0
			sb.tierChanges(sb.tiers.SetFloor(level, e.OccurredAt))
		}
	}
}

func (sb *StatusBook) addPurchase(p Purchase) {
	s := &sb.Status
	sb.Purchases = append(sb.Purchases, p)
	sb.NewPurchases = append(sb.NewPurchases, p)
	s.SpendMicros += p.SpendMicros
	if !p.Return {
		s.Purchases++
		if s.FirstPurchase.IsZero() || p.OccurredAt.Before(s.FirstPurchase) {
			s.FirstPurchase = p.OccurredAt
		}
		if p.OccurredAt.After(s.LastPurchase) {
			s.LastPurchase = p.OccurredAt
		}
	}
	if sb.tiers != nil {
		sb.tierChanges(sb.tiers.Add(sb.contribution(p)))
	}
}

// AddClawbacks gives the book the stored clawbacks of an entry that it is
// about to project further returns of: a return's share of its purchase's
// status points and spend is rounded over all the purchase's returns. Only
// the clawbacks projected already are kept; Apply adds the others.
func (sb *StatusBook) AddClawbacks(es []*Entry) {
	for _, e := range es {
		if e.Kind == EntryClawback && e.Seq <= sb.Status.ProjectedSeq &&
			!slices.ContainsFunc(sb.clawbacks[e.ReversesEntryID], func(c *Entry) bool { return c.ID == e.ID }) {
			sb.clawbacks[e.ReversesEntryID] = append(sb.clawbacks[e.ReversesEntryID], e)
		}
	}
}

// purchase returns the projected purchase row of an entry, nil if none.
func (sb *StatusBook) purchase(entryID string) *Purchase {
	for i := range sb.Purchases {
		if sb.Purchases[i].EntryID == entryID {
			return &sb.Purchases[i]
		}
	}
	return nil
}

// clawback takes a return off the purchase it reverses, rounding over the
// purchase's returns so far: after them, floor(status points * points
// clawed back / points) of its status points are off, and of its spend the
// qualifying spend of the amount returned (or, for returns by points, the
// same share as of the status points). Each return takes off the
// difference with what the earlier ones took, so returning a purchase in
// full, in any number of steps, takes off exactly its status points and
// spend.
func (sb *StatusBook) clawback(e *Entry) {
	prior := sb.clawbacks[e.ReversesEntryID]
	sb.clawbacks[e.ReversesEntryID] = append(prior, e)
	orig := sb.purchase(e.ReversesEntryID)
	if orig == nil || orig.Points == 0 {
		return // an explicit-points earn: not a purchase
	}
	var before Purchase // the earlier returns, negative
	returned := decimal.Zero
	for _, c := range prior {
		if p := sb.purchase(c.ID); p != nil {
			before.Points += p.Points
			before.StatusPoints += p.StatusPoints
			before.SpendMicros += p.SpendMicros
		}
		if c.Purchase != nil {
			returned = returned.Add(c.Purchase.Amount)
		}
	}
	clawed := e.Points + e.Uncollected
	total := -before.Points + clawed
	spent := share(orig.SpendMicros, total, orig.Points)
	if e.Purchase != nil {
		spent = money.Micros(sb.Prog.QualifyingSpend(money.Money{Amount: returned.Add(e.Purchase.Amount), Currency: e.Purchase.Currency}))
	}
	sb.addPurchase(Purchase{
		EntryID: e.ID, Return: true, OccurredAt: e.OccurredAt, QualifiesAt: orig.QualifiesAt, RecordedAt: e.RecordedAt,
		SpendMicros:  -takeOff(spent, -before.SpendMicros, orig.SpendMicros),
		StatusPoints: -takeOff(share(orig.StatusPoints, total, orig.Points), -before.StatusPoints, orig.StatusPoints),
		Points:       -clawed,
	})
}

// share is floor(v * part / whole) of non-negative numbers, without overflow.
func share(v, part, whole int64) int64 {
	var x big.Int
	x.Mul(big.NewInt(v), big.NewInt(part))
	return x.Quo(&x, big.NewInt(whole)).Int64()
}

// takeOff is what a return takes off a total when, with it, target should
// be off and taken is off already: never negative, never more than is left.
func takeOff(target, taken, total int64) int64 {
	return max(min(target, total)-taken, 0)
}

// CloseUntil settles the tier validities that have ended by t.
func (sb *StatusBook) CloseUntil(t time.Time) {
	if sb.tiers != nil {
		sb.tierChanges(sb.tiers.CloseUntil(t))
	}
}

func (sb *StatusBook) tierChanges(cs []TierChange) {
	st, levels := sb.tiers.State, sb.Prog.Tiers.Levels
	sb.Status.Tier, sb.Status.TierSince, sb.Status.TierValidUntil = levels[st.Level].ID, st.Since, st.ValidUntil
	sb.Status.TierFloor = ""
	if st.Floor > 0 {
		sb.Status.TierFloor = levels[st.Floor].ID
	}
	for _, c := range cs {
		from, to := sb.Prog.Tiers.Levels[c.From].ID, sb.Prog.Tiers.Levels[c.To].ID
		t := Transition{
			ID:       fmt.Sprintf("tier:%s:%d:%s", sb.Status.MemberID, c.At.UnixMicro(), to),
			MemberID: sb.Status.MemberID, ProgrammeID: sb.Status.ProgrammeID, Kind: TransitionTier,
			From: from, To: to, At: c.At, Cause: c.Cause,
		}
		sb.NewTransitions = append(sb.NewTransitions, t)
		typ := EventTierUp
		if c.To < c.From {
			typ = EventTierDown
		}
		sb.NewEvents = append(sb.NewEvents, MemberEvent{
			EventID: t.ID, MemberID: t.MemberID, ProgrammeID: t.ProgrammeID, Type: typ, At: c.At,
			From: from, To: to, Detail: c.Cause,
		})
	}
}

// Segment names outside the 125 RFM cells.
const (
	// SegmentInactive is a member who bought before but not within the
	// RFM window.
	SegmentInactive = "inactive"
)

// SegmentChange records a member's new RFM scores; it returns the
// transition and event when the segment changed.
func (st *MemberStatus) SegmentChange(s RFMScore, at time.Time, runID string) (*Transition, *MemberEvent) {
	from := st.Segment
	st.R, st.F, st.M = s.R, s.F, s.M
	if from == s.Segment {
		return nil, nil
	}
	st.Segment, st.SegmentSince = s.Segment, at
	t := &Transition{
		ID: fmt.Sprintf("segment:%s:%s", st.MemberID, runID), MemberID: st.MemberID, ProgrammeID: st.ProgrammeID,
		Kind: TransitionSegment, From: from, To: s.Segment, At: at, Cause: SegmentCausePrefix + runID,
	}
	return t, &MemberEvent{
		EventID: t.ID, MemberID: t.MemberID, ProgrammeID: t.ProgrammeID, Type: EventSegmentChanged, At: at,
		From: from, To: s.Segment, Detail: fmt.Sprintf("R%d F%d M%d", s.R, s.F, s.M),
	}
}

// SegmentCausePrefix starts the cause of a segment transition, followed by
// the id of the RFM run that made it.
const SegmentCausePrefix = "rfm:"
