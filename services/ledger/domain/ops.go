package domain

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"

	"github.com/shopspring/decimal"
)

// maxPoints bounds the points of one operation, far from int64 overflow.
const maxPoints = 1_000_000_000_000

// clockSkew is how far in the future a caller's occurred_at may be.
const clockSkew = 5 * time.Minute

// EarnCmd credits points for a purchase or an explicit number of points.
type EarnCmd struct {
	Purchase   *money.Money
	Points     int64
	Channel    Channel
	StoreID    string
	OrderRef   string
	Reason     string
	OccurredAt time.Time
	// PartnerID funds the points from the partner's account.
	PartnerID string
}

// Earn credits points. Purchase points stay pending until the return window
// ends; the lot's expiry clock starts when they become available.
func (b *Book) Earn(c EarnCmd, now time.Time) (*Entry, error) {
	occurred := c.OccurredAt
	if occurred.IsZero() {
		occurred = now
	}
	if occurred.After(now.Add(clockSkew)) {
		return nil, fault.Invalid("occurred_at", "is in the future")
	}
	points, base := c.Points, c.Points
	var availableAt time.Time
	if c.Purchase != nil {
		if c.Purchase.Amount.IsNegative() {
			return nil, fault.Invalid("purchase.amount", "must not be negative (returns are reversals)")
		}
		var err error
		if base, points, err = b.Prog.PurchasePoints(c.Purchase.Amount, c.Purchase.Currency, b.Prog.Multiplier(b.Member.Tier)); err != nil {
			return nil, err
		}
		if points > maxPoints {
			return nil, fault.Invalid("purchase.amount", "earns more than %d points", int64(maxPoints))
		}
		availableAt = b.Prog.PendingUntil(occurred)
	}
	e := b.begin(EntryEarn, occurred, now)
	e.Points, e.BasePoints, e.Purchase, e.Tier = points, base, c.Purchase, b.Member.Tier
	e.Channel, e.StoreID, e.OrderRef, e.Reason, e.PartnerID = c.Channel, c.StoreID, c.OrderRef, c.Reason, c.PartnerID
	source := b.issuer(c.PartnerID)
	if points > 0 {
		l := b.newLot(e, now)
		l.Points = points
		if availableAt.After(now) {
			l.Pending, l.AvailableAt = true, availableAt
			b.transfer(e, source, b.pending(), points)
			b.moveLot(e, l, e.ID, points)
		} else {
			l.AvailableAt = availableAt
			from := occurred
			if availableAt.After(from) {
				from = availableAt
			}
			l.ExpiresAt = b.Prog.ExpiresAt(from)
			b.transfer(e, source, b.available(), points)
			b.creditLot(e, l, e.ID, points)
		}
	}
	b.Member.LifetimeEarned += points
	b.finish(e, now)
	return e, nil
}

// BurnCmd spends available points.
type BurnCmd struct {
	Points   int64
	Channel  Channel
	StoreID  string
	OrderRef string
	Reason   string
	// PartnerID sends the points to the partner's account.
	PartnerID string
}

// Burn spends points from available lots, earliest expiry first.
func (b *Book) Burn(c BurnCmd, now time.Time) (*Entry, error) {
	if c.Points <= 0 {
		return nil, fault.Invalid("points", "must be positive")
	}
	b.needLots()
	if b.Member.Available < c.Points {
		return nil, insufficient(b.Member.Available, c.Points)
	}
	e := b.begin(EntryBurn, now, now)
	e.Points, e.Channel, e.StoreID, e.OrderRef, e.Reason = c.Points, c.Channel, c.StoreID, c.OrderRef, c.Reason
	e.PartnerID = c.PartnerID
	b.drawFIFO(e, e.ID, c.Points, nil)
	b.transfer(e, b.available(), b.redeemer(c.PartnerID), c.Points)
	b.Member.LifetimeBurned += c.Points
	b.finish(e, now)
	return e, nil
}

// HoldCmd reserves points.
type HoldCmd struct {
	Points    int64
	TTL       time.Duration
	Reference string
	Channel   Channel
}

// Hold reserves points, drawing them from lots earliest expiry first.
func (b *Book) Hold(c HoldCmd, now time.Time) (*Hold, *Entry, error) {
	if c.Points <= 0 {
		return nil, nil, fault.Invalid("points", "must be positive")
	}
	ttl, err := b.Prog.HoldTTL(c.TTL)
	if err != nil {
		return nil, nil, err
	}
	b.needLots()
	if b.Member.Available < c.Points {
		return nil, nil, insufficient(b.Member.Available, c.Points)
	}
	e := b.begin(EntryHold, now, now)
	h := &Hold{
		ID: b.newID(), MemberID: b.Member.ID, EntryID: e.ID, Points: c.Points, Status: HoldActive,
		Reference: c.Reference, CreatedAt: now, ExpiresAt: now.Add(ttl), UpdatedAt: now,
	}
	e.Points, e.HoldID, e.Channel, e.OrderRef = c.Points, h.ID, c.Channel, c.Reference
	b.loadedOrigin[e.ID] = true
	b.drawFIFO(e, e.ID, c.Points, nil)
	b.transfer(e, b.available(), b.held(), c.Points)
	b.Holds[h.ID] = h
	b.DirtyHolds[h.ID] = true
	b.NewHolds[h.ID] = true
	b.finish(e, now)
	return h, e, nil
}

// HoldResource is the type of a hold in a refusal's ResourceInfo.
const HoldResource = "fidelis.ledger.v1.PointsHold"

func (b *Book) activeHold(holdID string, now time.Time) (*Hold, error) {
	b.needLots()
	h, ok := b.Holds[holdID]
	if !ok {
		return nil, fault.NotFound(fault.HoldNotFound, "hold %s not found", holdID)
	}
	if h.Status == HoldExpired {
		return nil, fault.Precondition(fault.HoldExpired, "hold %s expired at %s", holdID, h.ExpiresAt.Format(time.RFC3339)).
			About(HoldResource, holdID)
	}
	if h.Status != HoldActive {
		return nil, fault.Precondition(fault.HoldNotActive, "hold %s is %s", holdID, h.Status).About(HoldResource, holdID)
	}
	if !now.Before(h.ExpiresAt) {
		return nil, fault.Precondition(fault.HoldExpired, "hold %s expired at %s", holdID, h.ExpiresAt.Format(time.RFC3339)).
			About(HoldResource, holdID)
	}
	return h, nil
}

// Capture burns points of an active hold (all of them when points is 0) and
// releases the rest. The captured points are the hold's earliest-expiring.
func (b *Book) Capture(holdID string, points int64, now time.Time) (*Hold, *Entry, *Entry, error) {
	h, err := b.activeHold(holdID, now)
	if err != nil {
		return nil, nil, nil, err
	}
	out := h.Outstanding()
	if points == 0 {
		points = out
	}
	if points > out {
		return nil, nil, nil, fault.Precondition(fault.HoldExceeded, "hold %s reserves %d points, %d requested", holdID, out, points)
	}
	e := b.begin(EntryCapture, now, now)
	e.Points, e.HoldID, e.OrderRef = points, h.ID, h.Reference
	b.transfer(e, b.held(), b.system(AccountRedemption), points)
	h.Captured += points
	b.Member.LifetimeBurned += points
	b.finish(e, now)
	var rel *Entry
	if rest := out - points; rest > 0 {
		rel = b.releaseHold(h, rest, "uncaptured remainder", now, now)
	}
	h.Status, h.UpdatedAt = HoldCaptured, now
	b.DirtyHolds[h.ID] = true
	return h, e, rel, nil
}

// Release returns all of an active hold's points to their lots.
func (b *Book) Release(holdID string, now time.Time) (*Hold, *Entry, error) {
	h, err := b.activeHold(holdID, now)
	if err != nil {
		return nil, nil, err
	}
	e := b.releaseHold(h, h.Outstanding(), "released", now, now)
	h.Status, h.UpdatedAt = HoldReleased, now
	b.DirtyHolds[h.ID] = true
	return h, e, nil
}

func (b *Book) releaseHold(h *Hold, n int64, reason string, occurred, now time.Time) *Entry {
	e := b.begin(EntryRelease, occurred, now)
	e.Points, e.HoldID, e.ReversesEntryID, e.Reason, e.OrderRef = n, h.ID, h.EntryID, reason, h.Reference
	b.transfer(e, b.held(), b.available(), n)
	b.restoreLIFO(e, h.EntryID, n)
	h.Released += n
	b.DirtyHolds[h.ID] = true
	b.finish(e, now)
	return e
}

// Portion says how much of an entry to reverse: exactly one field is set.
type Portion struct {
	Returned *money.Money
	Points   int64
	Full     bool
}

// ReverseCmd reverses part or all of an earn, burn or capture.
type ReverseCmd struct {
	Original *Entry
	// Prior holds the stored reversals of Original.
	Prior   []*Entry
	Portion Portion
	Reason  string
	Channel Channel
	StoreID string
}

// Reverse claws back an earn or refunds a burn or capture.
func (b *Book) Reverse(c ReverseCmd, now time.Time) (*Entry, error) {
	b.needLots()
	switch c.Original.Kind {
	case EntryEarn:
		return b.clawback(c, now)
	case EntryBurn, EntryCapture:
		return b.refund(c, now)
	default:
		return nil, fault.Precondition(fault.EntryNotReversible, "%s entries cannot be reversed", c.Original.Kind)
	}
}

func (b *Book) priorReversals(c ReverseCmd) []*Entry {
	prior := c.Prior
	for _, e := range b.NewEntries {
		if e.ReversesEntryID == c.Original.ID {
			prior = append(prior, e)
		}
	}
	return prior
}

func (b *Book) clawback(c ReverseCmd, now time.Time) (*Entry, error) {
	orig := c.Original
	var reversed int64
	returnedBefore := decimal.Zero
	for _, p := range b.priorReversals(c) {
		reversed += p.Points + p.Uncollected
		if p.Purchase != nil {
			returnedBefore = returnedBefore.Add(p.Purchase.Amount)
		}
	}
	left := orig.Points - reversed
	var n int64
	var returned *money.Money
	switch {
	case c.Portion.Returned != nil:
		r := c.Portion.Returned
		if orig.Purchase == nil {
			return nil, fault.Precondition(fault.EntryNotPurchase, "entry %s was not priced from a purchase; reverse it by points", orig.ID)
		}
		if r.Currency != orig.Purchase.Currency {
			return nil, fault.Invalid("returned.currency_code", "purchase was in %s", orig.Purchase.Currency)
		}
		if !r.Amount.IsPositive() {
			return nil, fault.Invalid("returned.amount", "must be positive")
		}
		total := returnedBefore.Add(r.Amount)
		if total.GreaterThan(orig.Purchase.Amount) {
			return nil, fault.Precondition(fault.ReversalExceedsEntry, "returned amount %s exceeds what is left of the purchase (%s of %s)",
				r.Amount, orig.Purchase.Amount.Sub(returnedBefore), orig.Purchase.Amount)
		}
		target := orig.Points
		if total.LessThan(orig.Purchase.Amount) {
			target = b.Prog.Earning.Rounding.Round(decimal.NewFromInt(orig.Points).Mul(total).Div(orig.Purchase.Amount))
		}
		n, returned = max(target-reversed, 0), r
	case c.Portion.Points > 0:
		if c.Portion.Points > left {
			return nil, fault.Precondition(fault.ReversalExceedsEntry, "entry %s has %d points left to reverse, %d requested", orig.ID, left, c.Portion.Points)
		}
		n = c.Portion.Points
	case c.Portion.Full:
		if left == 0 {
			return nil, fault.Precondition(fault.EntryFullyReversed, "entry %s is already fully reversed", orig.ID)
		}
		n = left
		if orig.Purchase != nil {
			returned = &money.Money{Amount: orig.Purchase.Amount.Sub(returnedBefore), Currency: orig.Purchase.Currency}
		}
	default:
		return nil, fault.Invalid("portion", "one of returned, points or full is required")
	}

	var own *Lot
	for _, l := range b.Lots {
		if l.SourceEntryID == orig.ID {
			own = l
		}
	}
	if own == nil && orig.Points > 0 {
		panic("ledger: lot of entry " + orig.ID + " not loaded")
	}
	fromPending := int64(0)
	if own != nil && own.Pending {
		fromPending = min(n, own.Remaining)
	}
	fromAvailable := n - fromPending
	uncollected := int64(0)
	if allow := max(b.Member.Available-b.Prog.Floor, 0); fromAvailable > allow {
		if b.Prog.FloorPolicy == FloorReject {
			return nil, fault.Precondition(fault.BalanceFloorReached, "clawback of %d points would take the balance below the floor %d", n, b.Prog.Floor)
		}
		uncollected = fromAvailable - allow
		fromAvailable = allow
	}

	e := b.begin(EntryClawback, now, now)
	e.Points, e.Uncollected, e.Purchase, e.ReversesEntryID = fromPending+fromAvailable, uncollected, returned, orig.ID
	e.PartnerID = orig.PartnerID
	e.Reason, e.Channel, e.StoreID, e.OrderRef = c.Reason, c.Channel, c.StoreID, orig.OrderRef
	if fromPending > 0 {
		b.moveLot(e, own, e.ID, -fromPending)
		b.transfer(e, b.pending(), b.issuer(orig.PartnerID), fromPending)
	}
	if fromAvailable > 0 {
		taken := b.drawFIFO(e, e.ID, fromAvailable, own)
		b.Member.Debt += fromAvailable - taken
		b.transfer(e, b.available(), b.issuer(orig.PartnerID), fromAvailable)
	}
	b.Member.LifetimeEarned -= n
	b.finish(e, now)
	return e, nil
}

func (b *Book) refund(c ReverseCmd, now time.Time) (*Entry, error) {
	orig := c.Original
	origin := orig.ID
	if orig.Kind == EntryCapture {
		h, ok := b.Holds[orig.HoldID]
		if !ok {
			panic("ledger: hold of capture " + orig.ID + " not loaded")
		}
		origin = h.EntryID
	}
	// A capture leaves its hold closed, so what the hold still draws is what
	// the capture took and no refund has returned.
	left := sumValues(b.netDrawn(origin))
	var n int64
	switch {
	case c.Portion.Returned != nil:
		return nil, fault.Precondition(fault.EntryNotPurchase, "only purchase earns are reversed by returned amount; reverse a %s by points", orig.Kind)
	case c.Portion.Points > 0:
		if c.Portion.Points > left {
			return nil, fault.Precondition(fault.ReversalExceedsEntry, "entry %s has %d points left to refund, %d requested", orig.ID, left, c.Portion.Points)
		}
		n = c.Portion.Points
	case c.Portion.Full:
		if left == 0 {
			return nil, fault.Precondition(fault.EntryFullyReversed, "entry %s is already fully refunded", orig.ID)
		}
		n = left
	default:
		return nil, fault.Invalid("portion", "one of returned, points or full is required")
	}
	e := b.begin(EntryRefund, now, now)
	e.Points, e.ReversesEntryID, e.HoldID, e.PartnerID = n, orig.ID, orig.HoldID, orig.PartnerID
	e.Reason, e.Channel, e.StoreID, e.OrderRef = c.Reason, c.Channel, c.StoreID, orig.OrderRef
	b.transfer(e, b.redeemer(orig.PartnerID), b.available(), n)
	b.restoreLIFO(e, origin, n)
	b.Member.LifetimeBurned -= n
	b.finish(e, now)
	return e, nil
}

// AdjustCmd credits (Points > 0) or debits (Points < 0) points by hand.
type AdjustCmd struct {
	Points   int64
	Reason   string
	Operator string
}

// Adjust credits a new lot, or debits lots earliest expiry first and then
// the balance down to the floor.
func (b *Book) Adjust(c AdjustCmd, now time.Time) (*Entry, error) {
	switch {
	case c.Points == 0:
		return nil, fault.Invalid("points", "must not be zero")
	case c.Reason == "":
		return nil, fault.Invalid("reason", "is required")
	case c.Operator == "":
		return nil, fault.Invalid("operator", "is required")
	case c.Points < 0 && b.Member.Available+c.Points < b.Prog.Floor:
		return nil, fault.Precondition(fault.BalanceFloorReached, "debit of %d would take the balance %d below the floor %d", -c.Points, b.Member.Available, b.Prog.Floor)
	}
	e := b.begin(EntryAdjustment, now, now)
	e.Reason, e.Operator, e.Channel = c.Reason, c.Operator, ChannelOperator
	if c.Points > 0 {
		e.Points = c.Points
		l := b.newLot(e, now)
		l.Points, l.ExpiresAt = c.Points, b.Prog.ExpiresAt(now)
		b.transfer(e, b.system(AccountAdjustment), b.available(), c.Points)
		b.creditLot(e, l, e.ID, c.Points)
	} else {
		b.needLots()
		n := -c.Points
		e.Points = n
		taken := b.drawFIFO(e, e.ID, n, nil)
		b.Member.Debt += n - taken
		b.transfer(e, b.available(), b.system(AccountAdjustment), n)
	}
	b.finish(e, now)
	return e, nil
}

// SetTierFloor records a manual tier floor (tier "" clears it): the member
// never drops below it and rises to it at once. The entry moves no points;
// it orders the floor among the member's entries for the tier projection.
func (b *Book) SetTierFloor(tier, reason, operator string, now time.Time) (*Entry, error) {
	switch {
	case b.Prog.Tiers == nil:
		return nil, fault.Precondition(fault.ProgrammeHasNoTiers, "programme %s has no tiers", b.Prog.ID)
	case reason == "":
		return nil, fault.Invalid("reason", "is required")
	case operator == "":
		return nil, fault.Invalid("operator", "is required")
	}
	if _, ok := b.Prog.Tiers.Level(tier); tier != "" && !ok {
		return nil, fault.Invalid("tier", "programme %s has no tier %q", b.Prog.ID, tier)
	}
	e := b.begin(EntryTierFloor, now, now)
	e.Tier, e.Reason, e.Operator, e.Channel = tier, reason, operator, ChannelOperator
	b.finish(e, now)
	return e, nil
}

// SettleResult counts what Settle did.
type SettleResult struct {
	HoldsExpired    int64
	PendingReleased int64
	LotsExpired     int64
	PointsExpired   int64
}

// Settle applies what time has made due as of asOf: expired holds return to
// their lots, pending points whose return window ended become available
// (starting their expiry clock), and expired lots are written off.
func (b *Book) Settle(asOf, now time.Time) SettleResult {
	var r SettleResult
	if b.RefreshDue(); !b.Member.Due(asOf) {
		return r
	}
	b.needLots()
	for _, h := range sortedHolds(b.Holds) {
		if h.Status == HoldActive && !asOf.Before(h.ExpiresAt) {
			b.releaseHold(h, h.Outstanding(), "hold expired", asOf, now)
			h.Status, h.UpdatedAt = HoldExpired, now
			r.HoldsExpired++
		}
	}
	var release, expire []*Lot
	for _, l := range b.Lots {
		switch {
		case l.Pending && !asOf.Before(l.AvailableAt):
			release = append(release, l)
		case l.Remaining > 0 && l.expiredAt(asOf):
			expire = append(expire, l)
		}
	}
	slices.SortFunc(release, fifoCmp)
	var e *Entry
	for _, l := range release {
		l.Pending, l.ExpiresAt = false, b.Prog.ExpiresAt(l.AvailableAt)
		b.DirtyLots[l.ID] = true
		n := l.Remaining
		if n == 0 {
			continue
		}
		if e == nil {
			e = b.begin(EntryPendingRelease, asOf, now)
		}
		e.Points += n
		b.transfer(e, b.pending(), b.available(), n)
		if d := min(b.Member.Debt, n); d > 0 {
			b.moveLot(e, l, e.ID, -d)
			b.Member.Debt -= d
		}
		if l.Remaining > 0 && l.expiredAt(asOf) {
			expire = append(expire, l)
		}
	}
	if e != nil {
		b.finish(e, now)
		r.PendingReleased = e.Points
	}
	if len(expire) > 0 {
		slices.SortFunc(expire, fifoCmp)
		e := b.begin(EntryExpiry, asOf, now)
		for _, l := range expire {
			n := l.Remaining
			b.moveLot(e, l, e.ID, -n)
			e.Points += n
		}
		b.transfer(e, b.available(), b.system(AccountExpired), e.Points)
		b.finish(e, now)
		r.LotsExpired, r.PointsExpired = int64(len(expire)), e.Points
	}
	return r
}

func sortedHolds(m map[string]*Hold) []*Hold {
	hs := slices.Collect(maps.Values(m))
	slices.SortFunc(hs, func(x, y *Hold) int {
		if c := x.ExpiresAt.Compare(y.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return hs
}

// ExpirySchedule sums available lot points by expiry time, earliest first;
// never-expiring points are left out.
func (b *Book) ExpirySchedule() []Scheduled {
	return b.schedule(false)
}

// PendingSchedule sums pending lot points by release time, earliest first.
func (b *Book) PendingSchedule() []Scheduled {
	return b.schedule(true)
}

// Scheduled is points due at a time.
type Scheduled struct {
	At     time.Time
	Points int64
}

func (b *Book) schedule(pending bool) []Scheduled {
	b.needLots()
	var ls []*Lot
	for _, l := range b.Lots {
		if l.Pending == pending && l.Remaining > 0 && (pending || !l.ExpiresAt.IsZero()) {
			ls = append(ls, l)
		}
	}
	at := func(l *Lot) time.Time {
		if pending {
			return l.AvailableAt
		}
		return l.ExpiresAt
	}
	slices.SortFunc(ls, func(x, y *Lot) int { return at(x).Compare(at(y)) })
	var out []Scheduled
	for _, l := range ls {
		if n := len(out); n > 0 && out[n-1].At.Equal(at(l)) {
			out[n-1].Points += l.Remaining
		} else {
			out = append(out, Scheduled{At: at(l), Points: l.Remaining})
		}
	}
	return out
}

// insufficient is the refusal of a debit above the points available, with
// both figures for programs.
func insufficient(available, requested int64) error {
	available = max(available, 0)
	return fault.Precondition(fault.InsufficientPoints, "insufficient points: %d available, %d requested", available, requested).
		With("available", strconv.FormatInt(available, 10)).With("requested", strconv.FormatInt(requested, 10))
}
