package domain

import (
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"

	"github.com/shopspring/decimal"
)

// ExpiryPolicy says when earned points expire.
type ExpiryPolicy string

// Expiry policies.
const (
	// ExpiryNone: points never expire.
	ExpiryNone ExpiryPolicy = "none"
	// ExpiryLot: each lot expires Months after it became available, at the
	// end of that day in the programme's time zone.
	ExpiryLot ExpiryPolicy = "lot"
)

// FloorPolicy says what a clawback does when it would take the available
// balance below the floor.
type FloorPolicy string

// Floor policies.
const (
	// FloorCap recovers what the floor allows and reports the rest as
	// uncollected.
	FloorCap FloorPolicy = "cap"
	// FloorReject refuses the reversal.
	FloorReject FloorPolicy = "reject"
)

// Programme is the configuration of one loyalty programme, as the domain
// uses it: complete and checked (services/ledger/config reads it from the
// configuration file, fills in the defaults and checks it).
type Programme struct {
	ID       string
	Name     string
	Timezone string
	Currency string
	Earning  struct {
		// Rates maps a currency to points per unit of it.
		Rates    map[string]decimal.Decimal
		Rounding money.Rounding
	}
	// PendingDays is the return window: purchase points stay pending until
	// the end of this many days after the purchase.
	PendingDays int
	// Backdating bounds how far back a request may date what happened (a
	// purchase's occurred_at, an enrolment's enrolled_at): Max for the
	// tills, ImportMax for a programme moving in.
	Backdating struct {
		Max, ImportMax time.Duration
	}
	Expiry struct {
		Policy ExpiryPolicy
		Months int
	}
	// Floor is the lowest available balance a clawback or a debit
	// adjustment may leave (zero or negative).
	Floor       int64
	FloorPolicy FloorPolicy
	Holds       struct {
		DefaultTTL time.Duration
		MaxTTL     time.Duration
	}
	// Tiers is the tier scheme; nil when the programme has none.
	Tiers *TierPolicy
	// RFM scores members on their purchases over the last WindowMonths, by
	// quintiles unless Thresholds are given, every Every.
	RFM struct {
		WindowMonths int
		Thresholds   *RFMThresholds
		Every        time.Duration
	}
	// PointValue is what one point is worth in the programme's currency,
	// for the outstanding liability.
	PointValue decimal.Decimal
	// KPI tunes the BI figures: a member without a purchase for
	// InactiveDays is inactive (churned); the churn model forecasts
	// purchases over HorizonWeeks.
	KPI struct {
		InactiveDays int
		HorizonWeeks float64
	}
	// Moments tunes the time-driven member events.
	Moments struct {
		// ExpiringWithinDays announces points that expire within this many days.
		ExpiringWithinDays int
		// InactiveAfterDays announces a member without a purchase for this long.
		InactiveAfterDays int
	}
	// Contact is the contact pressure policy (see ContactPolicy).
	Contact ContactPolicy

	// Version is the configuration file's version, recorded on entries.
	Version int64
	// Location is the time zone named by Timezone.
	Location *time.Location
}

// Config is the programmes of one version of the configuration.
type Config struct {
	Version    int64
	Programmes []*Programme

	byID map[string]*Programme
}

// NewConfig makes the Config of a version's programmes, which must have
// distinct ids.
func NewConfig(version int64, programmes []*Programme) (*Config, error) {
	byID := make(map[string]*Programme, len(programmes))
	for _, p := range programmes {
		if _, dup := byID[p.ID]; dup {
			return nil, fmt.Errorf("two programmes have the id %q", p.ID)
		}
		byID[p.ID] = p
	}
	return &Config{Version: version, Programmes: programmes, byID: byID}, nil
}

// Programme returns the programme with the given id.
func (c *Config) Programme(id string) (*Programme, bool) {
	p, ok := c.byID[id]
	return p, ok
}

// PurchasePoints prices a purchase with the earning policy: base is the
// points before the tier multiplier, points after it.
func (p *Programme) PurchasePoints(amount decimal.Decimal, currency string, multiplier decimal.Decimal) (base, points int64, err error) {
	rate, ok := p.Earning.Rates[currency]
	if !ok {
		return 0, 0, fault.Invalid("purchase.currency_code", "currency %s is not accepted by programme %s", currency, p.ID)
	}
	raw := amount.Mul(rate)
	return p.Earning.Rounding.Round(raw), p.Earning.Rounding.Round(raw.Mul(multiplier)), nil
}

// endOfDay is the first instant of the day after t's day in the programme's
// time zone: something due "at the end of the day" is due from then on.
func (p *Programme) endOfDay(t time.Time) time.Time {
	l := t.In(p.Location)
	y, m, d := l.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, p.Location).UTC()
}

// PendingUntil is when points of a purchase made at occurred leave the
// return window. The zero time means they are available at once.
func (p *Programme) PendingUntil(occurred time.Time) time.Time {
	if p.PendingDays == 0 {
		return time.Time{}
	}
	return p.endOfDay(occurred.In(p.Location).AddDate(0, 0, p.PendingDays))
}

// ExpiresAt is when points that became available at t expire; zero means
// never.
func (p *Programme) ExpiresAt(available time.Time) time.Time {
	if p.Expiry.Policy != ExpiryLot {
		return time.Time{}
	}
	return p.endOfDay(available.In(p.Location).AddDate(0, p.Expiry.Months, 0))
}

// HoldTTL resolves a requested hold lifetime (zero for the default).
func (p *Programme) HoldTTL(requested time.Duration) (time.Duration, error) {
	if requested == 0 {
		return p.Holds.DefaultTTL, nil
	}
	if requested > p.Holds.MaxTTL {
		return 0, fault.Invalid("ttl", "hold ttl %s exceeds the programme maximum %s", requested, p.Holds.MaxTTL)
	}
	return requested, nil
}

// CheckBackdate refuses a time a request dates what happened at (field)
// that is more than the programme's backdating window before now (the
// import window when imported), or more than the clock skew after it.
func (p *Programme) CheckBackdate(field string, at, now time.Time, imported bool) error {
	window := p.Backdating.Max
	if imported {
		window = p.Backdating.ImportMax
	}
	switch {
	case at.After(now.Add(clockSkew)):
		return fault.Invalid(field, "is in the future")
	case at.Before(now.Add(-window)):
		return fault.Invalid(field, "is more than %d days ago: the programme accepts %d days of backdating (%d to the import role)",
			int(now.Sub(at).Hours()/24), int(p.Backdating.Max.Hours()/24), int(p.Backdating.ImportMax.Hours()/24))
	}
	return nil
}
