package domain

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
)

// Tier bases: what qualifies a member for a tier.
const (
	// TierBasisStatusPoints: the points of purchases before any tier
	// multiplier, net of returns.
	TierBasisStatusPoints = "status_points"
	// TierBasisSpend: the amount of purchases in the programme's currency
	// (others converted at the ratio of their earning rates), net of returns.
	TierBasisSpend = "qualifying_spend"
)

// Tier windows.
const (
	// TierWindowRolling: the qualifying amount is summed over the months
	// before a moment; a tier reached at t is valid until t + months.
	TierWindowRolling = "rolling"
	// TierWindowCalendar: periods of Months months from StartMonth; a tier
	// reached in a period is valid until the end of the next one.
	TierWindowCalendar = "calendar"
)

// Downgrade policies, applied when a tier's validity ends without the
// member having requalified.
const (
	// DowngradeOneStep drops one tier.
	DowngradeOneStep = "one_step"
	// DowngradeToQualified drops to the highest tier the amount qualifies for.
	DowngradeToQualified = "to_qualified"
)

// TierLevel is one tier: the qualifying amount it needs and the multiplier
// it applies to purchase points.
type TierLevel struct {
	ID         string
	Threshold  decimal.Decimal
	Multiplier decimal.Decimal
}

// TierPolicy is a programme's tier scheme. Levels run from the base tier
// (threshold 0) up.
type TierPolicy struct {
	Basis      string
	Window     string
	Months     int
	StartMonth int
	Downgrade  string
	Levels     []TierLevel
	// Location is the programme's time zone, in which calendar periods
	// start and validities end.
	Location *time.Location
}

// Level returns the index of a tier id; ok is false for unknown ids.
func (p *TierPolicy) Level(id string) (int, bool) {
	for i, l := range p.Levels {
		if l.ID == id {
			return i, true
		}
	}
	return 0, false
}

// QualifyingSpend converts a purchase or return into the programme's
// currency at the ratio of the earning rates.
func (p *Programme) QualifyingSpend(m money.Money) decimal.Decimal {
	if m.Currency == p.Currency {
		return m.Amount
	}
	return m.Amount.Mul(p.Earning.Rates[m.Currency]).Div(p.Earning.Rates[p.Currency]).Round(6)
}

// Multiplier is the purchase-points multiplier of a tier id (1 when the
// programme has no tiers or the id is unknown).
func (p *Programme) Multiplier(tier string) decimal.Decimal {
	if p.Tiers != nil {
		if i, ok := p.Tiers.Level(tier); ok {
			return p.Tiers.Levels[i].Multiplier
		}
	}
	return decimal.NewFromInt(1)
}

// periodStart is the start of the calendar period containing t.
func (p *TierPolicy) periodStart(t time.Time) time.Time {
	l := t.In(p.Location)
	month := l.Year()*12 + int(l.Month()) - 1 // months since year 0
	start := month - ((month-(p.StartMonth-1))%p.Months+p.Months)%p.Months
	return time.Date(start/12, time.Month(start%12+1), 1, 0, 0, 0, 0, p.Location).UTC()
}

// validUntil is when the validity of a tier reached at t ends.
func (p *TierPolicy) validUntil(t time.Time) time.Time {
	if p.Window == TierWindowCalendar {
		return p.periodStart(t).In(p.Location).AddDate(0, 2*p.Months, 0).UTC()
	}
	return t.In(p.Location).AddDate(0, p.Months, 0).UTC()
}

// Contribution is a qualifying amount a ledger entry adds (a purchase) or
// takes away (a return), dated when the purchase happened.
type Contribution struct {
	EntryID    string
	OccurredAt time.Time
	RecordedAt time.Time
	Amount     decimal.Decimal
}

// TierState is a member's tier.
type TierState struct {
	Level      int
	Since      time.Time
	ValidUntil time.Time // zero for the base tier
	// Floor is a manual tier the member never drops below (0: none).
	Floor int
}

// TierChange is a move between tiers.
type TierChange struct {
	From, To int
	At       time.Time
	Cause    string
}

// Causes of tier changes.
const (
	CauseQualified = "qualified"
	CauseExpired   = "validity_ended"
	CauseManual    = "manual"
)

// TierBook is one member's tier state and the contributions it is derived
// from. Its decisions depend only on the contributions and the order they
// were recorded in, so replaying a member's entries from scratch gives the
// same tiers and the same changes at the same times.
type TierBook struct {
	Policy   *TierPolicy
	State    TierState
	Contribs []Contribution
}

// amount sums the contributions that occurred in [from, to) and were
// recorded before cut (zero cut: all).
func (tb *TierBook) amount(from, to, cut time.Time) decimal.Decimal {
	sum := decimal.Zero
	for _, c := range tb.Contribs {
		if !c.OccurredAt.Before(from) && c.OccurredAt.Before(to) && (cut.IsZero() || c.RecordedAt.Before(cut)) {
			sum = sum.Add(c.Amount)
		}
	}
	return sum
}

// qualifiedFor is the highest level an amount reaches.
func (tb *TierBook) qualifiedFor(a decimal.Decimal) int {
	best := 0
	for i, l := range tb.Policy.Levels {
		if !a.LessThan(l.Threshold) {
			best = i
		}
	}
	return best
}

// CloseUntil settles every validity end up to t: a member whose amount over
// the window ending there still reaches the tier keeps it for another
// window; otherwise it drops (one step, or to the tier the amount reaches),
// never below the manual floor. Only contributions recorded before the end
// count: a period closes when it ends.
func (tb *TierBook) CloseUntil(t time.Time) []TierChange {
	var out []TierChange
	for s := &tb.State; !s.ValidUntil.IsZero() && !t.Before(s.ValidUntil); {
		v := s.ValidUntil
		q := tb.qualifiedFor(tb.amount(tb.evalFrom(v), v, v))
		next := s.Level
		if q < s.Level {
			next = s.Level - 1
			if tb.Policy.Downgrade == DowngradeToQualified {
				next = q
			}
		}
		next = max(next, s.Floor)
		if next != s.Level {
			out = append(out, TierChange{From: s.Level, To: next, At: v, Cause: CauseExpired})
			s.Level, s.Since = next, v
		}
		s.ValidUntil = time.Time{}
		if s.Level > 0 {
			s.ValidUntil = v.In(tb.Policy.Location).AddDate(0, tb.Policy.Months, 0).UTC()
		}
	}
	return out
}

// Add records a contribution; a purchase that lifts the amount over the
// window ending at it past a higher threshold upgrades the member at once.
func (tb *TierBook) Add(c Contribution) []TierChange {
	out := tb.CloseUntil(c.RecordedAt)
	tb.Contribs = append(tb.Contribs, c)
	if !c.Amount.IsPositive() {
		return out
	}
	from, to := tb.window(c.OccurredAt)
	if q := tb.qualifiedFor(tb.amount(from, to, time.Time{})); q > tb.State.Level {
		// A purchase recorded late lifts the member from the purchase's
		// time, but never before the current tier began.
		at := c.OccurredAt
		if at.Before(tb.State.Since) {
			at = tb.State.Since
		}
		out = append(out, TierChange{From: tb.State.Level, To: q, At: at, Cause: CauseQualified})
		tb.State.Level, tb.State.Since = q, at
		tb.State.ValidUntil = tb.Policy.validUntil(at)
	}
	return out
}

// evalFrom is the start of the window judged when a validity ends at v: the
// calendar period ending at v, or the rolling months before v (the moment
// that qualified the member for this validity itself excluded).
func (tb *TierBook) evalFrom(v time.Time) time.Time {
	from := v.In(tb.Policy.Location).AddDate(0, -tb.Policy.Months, 0).UTC()
	if tb.Policy.Window == TierWindowRolling {
		from = from.Add(time.Microsecond)
	}
	return from
}

// window is the qualification window that a moment t falls in: the months
// up to and including t (rolling), or t's calendar period so far.
func (tb *TierBook) window(t time.Time) (from, to time.Time) {
	to = t.Add(time.Microsecond)
	if tb.Policy.Window == TierWindowCalendar {
		return tb.Policy.periodStart(t), to
	}
	return t.In(tb.Policy.Location).AddDate(0, -tb.Policy.Months, 0).UTC().Add(time.Microsecond), to
}

// SetFloor sets (level > 0) or clears (0) a manual tier floor at t; a
// member below a new floor rises to it at once.
func (tb *TierBook) SetFloor(level int, t time.Time) []TierChange {
	out := tb.CloseUntil(t)
	tb.State.Floor = level
	if level > tb.State.Level {
		out = append(out, TierChange{From: tb.State.Level, To: level, At: t, Cause: CauseManual})
		tb.State.Level, tb.State.Since = level, t
		tb.State.ValidUntil = tb.Policy.validUntil(t)
	}
	return out
}

// TierOutlook is what a member sees of their tier at a moment.
type TierOutlook struct {
	// Qualifying is the amount in the current window.
	Qualifying decimal.Decimal
	// Next is the next tier up (-1 at the top) and Gap what it still needs.
	Next int
	Gap  decimal.Decimal
	// ToKeep is what the member still needs before the tier's validity
	// ends to keep it (zero for the base tier, or when already requalified).
	ToKeep decimal.Decimal
}

// Outlook reports the qualifying amounts as of now.
func (tb *TierBook) Outlook(now time.Time) TierOutlook {
	from, to := tb.window(now)
	o := TierOutlook{Qualifying: tb.amount(from, to, time.Time{}), Next: -1, Gap: decimal.Zero, ToKeep: decimal.Zero}
	if n := tb.State.Level + 1; n < len(tb.Policy.Levels) {
		o.Next = n
		o.Gap = decimal.Max(decimal.Zero, tb.Policy.Levels[n].Threshold.Sub(o.Qualifying))
	}
	if v := tb.State.ValidUntil; !v.IsZero() {
		have := tb.amount(tb.evalFrom(v), to, time.Time{})
		o.ToKeep = decimal.Max(decimal.Zero, tb.Policy.Levels[tb.State.Level].Threshold.Sub(have))
	}
	return o
}
