package period

import (
	"testing"
	"time"
)

// The names are stored with rewards (limit_period) and offers
// (cap_period): they must never change.
func TestNames(t *testing.T) {
	for p, name := range map[Period]string{Lifetime: "lifetime", Day: "day", Week: "week", Month: "month", Year: "year"} {
		if string(p) != name {
			t.Errorf("period %q is spelled %q", name, p)
		}
	}
}

// Keys are stored in member limit and offer use rows: a change of format
// would restart every member's count. This pins the format of each period.
func TestKeyFormat(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		p    Period
		at   time.Time
		want string
	}{
		{Day, time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), "2026-12-31"},
		{Day, time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), "2026-03-05"},
		{Day, time.Date(2027, 1, 1, 0, 30, 0, 0, paris), "2026-12-31"}, // UTC, not local time
		{Week, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), "2026-W53"},
		{Week, time.Date(2027, 1, 3, 12, 0, 0, 0, time.UTC), "2026-W53"}, // ISO weeks cross the year
		{Week, time.Date(2024, 12, 30, 12, 0, 0, 0, time.UTC), "2025-W01"},
		{Week, time.Date(2026, 1, 7, 12, 0, 0, 0, time.UTC), "2026-W02"}, // two digits
		{Month, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), "2026-12"},
		{Month, time.Date(2026, 3, 1, 0, 30, 0, 0, paris), "2026-02"},
		{Year, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), "2026"},
		{Year, time.Date(2027, 1, 1, 0, 30, 0, 0, paris), "2026"},
		{Lifetime, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), "lifetime"},
		{"", time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), "lifetime"},
		{"fortnight", time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), "lifetime"},
	} {
		if got := tc.p.Key(tc.at); got != tc.want {
			t.Errorf("%q.Key(%s) = %q, want %q", tc.p, tc.at, got, tc.want)
		}
	}
}
