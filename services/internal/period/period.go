// Package period names the calendar periods a per-member count runs over
// (a reward's redemption limit, a partner offer's cap) and the key of the
// period a moment falls in. Periods are in UTC. Both the period names and
// the keys are stored in database rows: their spelling never changes.
package period

import (
	"fmt"
	"time"
)

// Period is the period a per-member count runs over.
type Period string

// Periods.
const (
	Lifetime Period = "lifetime"
	Day      Period = "day"
	Week     Period = "week"
	Month    Period = "month"
	Year     Period = "year"
)

// Key names the period t falls in: "2026-12-31" (day), "2026-W53" (ISO
// week), "2026-12" (month), "2026" (year), "lifetime" (lifetime, and any
// unknown period).
func (p Period) Key(t time.Time) string {
	t = t.UTC()
	switch p {
	case Day:
		return t.Format(time.DateOnly)
	case Week:
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case Month:
		return t.Format("2006-01")
	case Year:
		return t.Format("2006")
	default:
		return string(Lifetime)
	}
}
