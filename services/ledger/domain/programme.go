package domain

import (
	"fmt"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
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

// Programme is the configuration of one loyalty programme.
type Programme struct {
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	Timezone string `yaml:"timezone"`
	Currency string `yaml:"currency"`
	Earning  struct {
		// Rates maps a currency to points per unit of it.
		Rates    map[string]decimal.Decimal `yaml:"rates"`
		Rounding money.Rounding             `yaml:"rounding"`
	} `yaml:"earning"`
	// PendingDays is the return window: purchase points stay pending until
	// the end of this many days after the purchase.
	PendingDays int `yaml:"pending_days"`
	Expiry      struct {
		Policy ExpiryPolicy `yaml:"policy"`
		Months int          `yaml:"months"`
	} `yaml:"expiry"`
	// Floor is the lowest available balance a clawback or a debit
	// adjustment may leave (zero or negative).
	Floor       int64       `yaml:"floor"`
	FloorPolicy FloorPolicy `yaml:"floor_policy"`
	Holds       struct {
		DefaultTTL time.Duration `yaml:"default_ttl"`
		MaxTTL     time.Duration `yaml:"max_ttl"`
	} `yaml:"holds"`
	// Tiers is the tier scheme; nil when the programme has none.
	Tiers *TierPolicy `yaml:"tiers"`
	// RFM scores members on their purchases over the last WindowMonths, by
	// quintiles unless Thresholds are given, every Every.
	RFM struct {
		WindowMonths int            `yaml:"window_months"`
		Thresholds   *RFMThresholds `yaml:"thresholds"`
		Every        time.Duration  `yaml:"every"`
	} `yaml:"rfm"`
	// PointValue is what one point is worth in the programme's currency,
	// for the outstanding liability.
	PointValue decimal.Decimal `yaml:"point_value"`
	// KPI tunes the BI figures: a member without a purchase for
	// InactiveDays is inactive (churned); the churn model forecasts
	// purchases over HorizonWeeks.
	KPI struct {
		InactiveDays int     `yaml:"inactive_days"`
		HorizonWeeks float64 `yaml:"horizon_weeks"`
	} `yaml:"kpi"`
	// Moments tunes the time-driven member events.
	Moments struct {
		// ExpiringWithinDays announces points that expire within this many days.
		ExpiringWithinDays int `yaml:"expiring_within_days"`
		// InactiveAfterDays announces a member without a purchase for this long.
		InactiveAfterDays int `yaml:"inactive_after_days"`
	} `yaml:"moments"`

	// Version is the configuration file's version, recorded on entries.
	Version  int64          `yaml:"-"`
	Location *time.Location `yaml:"-"`
}

// Config is a versioned programme configuration file.
type Config struct {
	Version    int64        `yaml:"version"`
	Programmes []*Programme `yaml:"programmes"`

	byID map[string]*Programme
}

// ParseConfig parses and validates a configuration file.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse programme config: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("programme config: %w", err)
	}
	return &c, nil
}

func (c *Config) validate() error {
	if c.Version <= 0 {
		return fmt.Errorf("version must be a positive integer")
	}
	if len(c.Programmes) == 0 {
		return fmt.Errorf("no programmes")
	}
	c.byID = make(map[string]*Programme, len(c.Programmes))
	for i, p := range c.Programmes {
		if err := p.validate(); err != nil {
			return fmt.Errorf("programmes[%d] (%q): %w", i, p.ID, err)
		}
		if _, dup := c.byID[p.ID]; dup {
			return fmt.Errorf("programmes[%d]: duplicate id %q", i, p.ID)
		}
		p.Version = c.Version
		c.byID[p.ID] = p
	}
	return nil
}

func (p *Programme) validate() error {
	if p.ID == "" {
		return fmt.Errorf("id is required")
	}
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		return fmt.Errorf("timezone: %w", err)
	}
	p.Location = loc
	if len(p.Currency) != 3 {
		return fmt.Errorf("currency must be an ISO 4217 code")
	}
	if len(p.Earning.Rates) == 0 {
		return fmt.Errorf("earning.rates: at least one currency is required")
	}
	for cur, r := range p.Earning.Rates {
		if len(cur) != 3 || r.IsNegative() {
			return fmt.Errorf("earning.rates[%s]: need a 3-letter currency and a rate >= 0", cur)
		}
	}
	switch p.Earning.Rounding {
	case "":
		p.Earning.Rounding = money.RoundFloor
	case money.RoundFloor, money.RoundCeil, money.RoundHalfUp, money.RoundHalfEven:
	default:
		return fmt.Errorf("earning.rounding %q: want floor, ceil, half_up or half_even", p.Earning.Rounding)
	}
	if p.PendingDays < 0 || p.PendingDays > 366 {
		return fmt.Errorf("pending_days must be within 0..366")
	}
	switch p.Expiry.Policy {
	case "":
		p.Expiry.Policy = ExpiryNone
	case ExpiryNone:
	case ExpiryLot:
		if p.Expiry.Months <= 0 {
			return fmt.Errorf("expiry.months must be positive for policy lot")
		}
	default:
		return fmt.Errorf("expiry.policy %q: want none or lot", p.Expiry.Policy)
	}
	if p.Floor > 0 {
		return fmt.Errorf("floor must be zero or negative")
	}
	switch p.FloorPolicy {
	case "":
		p.FloorPolicy = FloorCap
	case FloorCap, FloorReject:
	default:
		return fmt.Errorf("floor_policy %q: want cap or reject", p.FloorPolicy)
	}
	if p.Holds.DefaultTTL == 0 {
		p.Holds.DefaultTTL = 15 * time.Minute
	}
	if p.Holds.MaxTTL == 0 {
		p.Holds.MaxTTL = 24 * time.Hour
	}
	if p.Holds.DefaultTTL < 0 || p.Holds.DefaultTTL > p.Holds.MaxTTL {
		return fmt.Errorf("holds: need 0 < default_ttl <= max_ttl")
	}
	if p.RFM.WindowMonths == 0 {
		p.RFM.WindowMonths = 12
	}
	if p.RFM.Every == 0 {
		p.RFM.Every = 24 * time.Hour
	}
	if p.RFM.WindowMonths < 0 || p.RFM.Every < time.Minute {
		return fmt.Errorf("rfm: window_months must be positive and every at least 1m")
	}
	if err := p.RFM.Thresholds.Validate(); err != nil {
		return fmt.Errorf("rfm.thresholds: %w", err)
	}
	if p.KPI.InactiveDays == 0 {
		p.KPI.InactiveDays = 90
	}
	if p.KPI.HorizonWeeks == 0 {
		p.KPI.HorizonWeeks = 52
	}
	if p.KPI.InactiveDays < 0 || p.KPI.HorizonWeeks < 0 || p.PointValue.IsNegative() {
		return fmt.Errorf("kpi: inactive_days, horizon_weeks and point_value must not be negative")
	}
	if p.Moments.ExpiringWithinDays == 0 {
		p.Moments.ExpiringWithinDays = 30
	}
	if p.Moments.InactiveAfterDays == 0 {
		p.Moments.InactiveAfterDays = 90
	}
	if p.Moments.ExpiringWithinDays < 0 || p.Moments.InactiveAfterDays < 0 {
		return fmt.Errorf("moments: days must be positive")
	}
	if p.Tiers != nil {
		if err := p.Tiers.validate(loc); err != nil {
			return err
		}
		if p.Tiers.Basis == TierBasisSpend && !p.Earning.Rates[p.Currency].IsPositive() {
			return fmt.Errorf("tiers: qualifying spend needs a positive earning rate for %s", p.Currency)
		}
	}
	return nil
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
		return 0, 0, fault.Invalid("purchase.currency", "currency %s is not accepted by programme %s", currency, p.ID)
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
