package domain

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// KPI periods are calendar months in UTC, so that BI tools can join them to
// any calendar.

// Period is a span of time, [Start, End).
type Period struct {
	Key        string
	Start, End time.Time
}

// MonthKey names t's UTC month.
func MonthKey(t time.Time) string { return t.UTC().Format("2006-01") }

func monthStart(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// Months returns the months from the one holding from to the one holding
// to, inclusive.
func Months(from, to time.Time) []Period {
	var out []Period
	for s := monthStart(from); !s.After(to); s = s.AddDate(0, 1, 0) {
		out = append(out, Period{Key: MonthKey(s), Start: s, End: s.AddDate(0, 1, 0)})
	}
	return out
}

// MemberHistory is what the member KPIs need of a member: when they
// enrolled and when they bought, in order.
type MemberHistory struct {
	Enrolled  time.Time
	Purchases []time.Time
}

// PeriodFacts are a period's member counts. A member is active at a moment
// if they bought in the inactivity threshold before it.
type PeriodFacts struct {
	Period
	MembersStart, MembersEnd int64 // enrolled before the start, before the end
	New                      int64 // enrolled in the period
	ActiveStart, ActiveEnd   int64
	NewActiveEnd             int64 // new members active at the end
	Churned                  int64 // active at the start, not at the end
	Purchasers               int64 // bought in the period
	RepeatPurchasers         int64 // bought twice or more in the period
}

// ChurnRate is the share of the members active at the start who are not
// at the end.
func (f *PeriodFacts) ChurnRate() decimal.Decimal { return Ratio(f.Churned, f.ActiveStart) }

// RetentionRate is (active at end - new active at end) / active at start.
func (f *PeriodFacts) RetentionRate() decimal.Decimal {
	return Ratio(f.ActiveEnd-f.NewActiveEnd, f.ActiveStart)
}

// RepeatPurchaseRate is the share of the period's buyers who bought again
// in it.
func (f *PeriodFacts) RepeatPurchaseRate() decimal.Decimal {
	return Ratio(f.RepeatPurchasers, f.Purchasers)
}

// RatioPlaces is the precision of KPI rates and shares.
const RatioPlaces = 6

// Ratio is a/b rounded half away from zero to RatioPlaces, 0 when b is 0.
func Ratio(a, b int64) decimal.Decimal {
	if b == 0 {
		return decimal.Zero
	}
	return decimal.NewFromInt(a).DivRound(decimal.NewFromInt(b), RatioPlaces)
}

// CohortCell is how many members of an enrolment cohort bought in the
// k-th month after enrolling (k = 0: the enrolment month).
type CohortCell struct {
	Cohort      string
	MonthsSince int
	Size        int64
	Active      int64
}

// MemberKPIs accumulates the member KPIs over periods and cohorts, one
// member at a time, so that millions of members stream through in one pass.
type MemberKPIs struct {
	Periods  []PeriodFacts
	inactive time.Duration
	until    time.Time
	cohorts  map[string]*cohort
}

type cohort struct {
	size   int64
	active map[int]int64
}

// NewMemberKPIs prepares the periods; members count as inactive after
// inactive without a purchase; cohorts run until until.
func NewMemberKPIs(periods []Period, inactive time.Duration, until time.Time) *MemberKPIs {
	k := &MemberKPIs{inactive: inactive, until: until, cohorts: map[string]*cohort{}}
	for _, p := range periods {
		k.Periods = append(k.Periods, PeriodFacts{Period: p})
	}
	return k
}

// activeAt tells whether a member with these (sorted) purchases is active at t.
func (k *MemberKPIs) activeAt(purchases []time.Time, t time.Time) bool {
	// The last purchase at or before t.
	i := sort.Search(len(purchases), func(i int) bool { return purchases[i].After(t) })
	return i > 0 && t.Sub(purchases[i-1]) < k.inactive
}

// Add counts one member.
func (k *MemberKPIs) Add(h MemberHistory) {
	ps := h.Purchases
	for i := range k.Periods {
		f := &k.Periods[i]
		if !h.Enrolled.Before(f.End) {
			continue
		}
		f.MembersEnd++
		isNew := !h.Enrolled.Before(f.Start)
		if isNew {
			f.New++
		} else {
			f.MembersStart++
		}
		startActive, endActive := k.activeAt(ps, f.Start.Add(-time.Microsecond)), k.activeAt(ps, f.End.Add(-time.Microsecond))
		if startActive {
			f.ActiveStart++
			if !endActive {
				f.Churned++
			}
		}
		if endActive {
			f.ActiveEnd++
			if isNew {
				f.NewActiveEnd++
			}
		}
		lo := sort.Search(len(ps), func(i int) bool { return !ps[i].Before(f.Start) })
		hi := sort.Search(len(ps), func(i int) bool { return !ps[i].Before(f.End) })
		if n := hi - lo; n >= 1 {
			f.Purchasers++
			if n >= 2 {
				f.RepeatPurchasers++
			}
		}
	}
	if h.Enrolled.IsZero() || h.Enrolled.After(k.until) {
		return
	}
	key := MonthKey(h.Enrolled)
	c := k.cohorts[key]
	if c == nil {
		c = &cohort{active: map[int]int64{}}
		k.cohorts[key] = c
	}
	c.size++
	start := monthStart(h.Enrolled)
	seen := map[int]bool{}
	for _, p := range ps {
		if p.Before(start) || p.After(k.until) {
			continue
		}
		pm := monthStart(p)
		n := (pm.Year()-start.Year())*12 + int(pm.Month()) - int(start.Month())
		if !seen[n] {
			seen[n] = true
			c.active[n]++
		}
	}
}

// Cohorts returns the cohort table: every cohort, every month from its
// enrolment month to until.
func (k *MemberKPIs) Cohorts() []CohortCell {
	var out []CohortCell
	keys := make([]string, 0, len(k.cohorts))
	for key := range k.cohorts {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	last := monthStart(k.until)
	for _, key := range keys {
		c := k.cohorts[key]
		start, _ := time.Parse("2006-01", key)
		months := (last.Year()-start.Year())*12 + int(last.Month()) - int(start.Month())
		for n := 0; n <= months; n++ {
			out = append(out, CohortCell{Cohort: key, MonthsSince: n, Size: c.size, Active: c.active[n]})
		}
	}
	return out
}

// Transition states beyond the segments and tiers themselves.
const (
	StateNew    = "new"    // no state at the first date
	StateExited = "exited" // left the active population by the second date
)

// TransitionCell is how many members went from one state to another
// between two dates.
type TransitionCell struct {
	From, To string
	Members  int64
	// RowShare is Members over all members in the From state.
	RowShare decimal.Decimal
}

// StateHistory is one member's states over time: Initial from Since (the
// enrolment) until the first transition, then each transition's To.
type StateHistory struct {
	Since       time.Time
	Initial     string
	Transitions []Transition // sorted by time
}

// Before is the state just before t — the state a period starting at t
// starts in, or one ending at t ends in: "" if the member was not enrolled
// yet. A transition's From, where set, says what the state was before it.
func (h StateHistory) Before(t time.Time) string {
	if !h.Since.Before(t) {
		return ""
	}
	state := h.Initial
	if len(h.Transitions) > 0 && h.Transitions[0].From != "" {
		state = h.Transitions[0].From
	}
	for _, tr := range h.Transitions {
		if !tr.At.Before(t) {
			break
		}
		state = tr.To
	}
	return state
}

// TransitionMatrix counts, per member, the state a period [from, to)
// starts in and the one it ends in. Members with no state at from start as
// "new"; members whose state at to is empty, or who move to exit (the
// inactive segment) during the period, end as "exited"; members with no
// state at either date are left out. A transition at from falls in the
// period, one at to in the next.
func TransitionMatrix(byMember map[string]StateHistory, from, to time.Time, exit string) []TransitionCell {
	counts := map[[2]string]int64{}
	rows := map[string]int64{}
	for _, h := range byMember {
		a, b := h.Before(from), h.Before(to)
		if a == "" && b == "" {
			continue
		}
		if a == "" {
			a = StateNew
		}
		if b == "" || (exit != "" && b == exit && a != exit) {
			b = StateExited
		}
		counts[[2]string{a, b}]++
		rows[a]++
	}
	out := make([]TransitionCell, 0, len(counts))
	for k, n := range counts {
		out = append(out, TransitionCell{From: k[0], To: k[1], Members: n, RowShare: Ratio(n, rows[k[0]])})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}
