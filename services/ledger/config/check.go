package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Defaults: what a programme that leaves a key out gets.
const (
	defaultTimezone           = "UTC"
	defaultHoldTTL            = 15 * time.Minute
	defaultMaxHoldTTL         = 24 * time.Hour
	defaultRFMWindowMonths    = 12
	defaultRFMEvery           = 24 * time.Hour
	defaultInactiveDays       = 90
	defaultHorizonWeeks       = 52
	defaultExpiringWithinDays = 30
	defaultInactiveAfterDays  = 90
)

// problems are the mistakes found in a file, each with its path.
type problems []error

// add records a mistake at path.
func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// wrap records err as a mistake at path.
func (ps *problems) wrap(path string, err error) {
	*ps = append(*ps, fmt.Errorf("%s: %w", path, err))
}

// check fills in what doc leaves out and records its mistakes in ps; it
// returns the domain's configuration when there are none, in ps either.
func check(doc *document, ps *problems) *domain.Config {
	if doc.Version <= 0 {
		ps.add("version", "must be a positive integer")
	}
	if len(doc.Programmes) == 0 {
		ps.add("programmes", "at least one programme is required")
	}
	programmes := make([]*domain.Programme, 0, len(doc.Programmes))
	first := map[string]int{}
	for i := range doc.Programmes {
		d := &doc.Programmes[i]
		path := fmt.Sprintf("programmes[%d]", i)
		if j, dup := first[d.ID]; dup && d.ID != "" {
			ps.add(path+".id", "%q is already the id of programmes[%d]", d.ID, j)
		} else {
			first[d.ID] = i
		}
		programmes = append(programmes, d.check(path, doc.Version, ps))
	}
	if len(*ps) > 0 {
		return nil
	}
	c, err := domain.NewConfig(doc.Version, programmes)
	if err != nil {
		ps.wrap("programmes", err)
		return nil
	}
	return c
}

// The backdating windows when the file names none: a till that was offline
// for weeks still posts its purchases; an import moves ten years in.
const (
	defaultBackdate       = 30 * 24 * time.Hour
	defaultImportBackdate = 3650 * 24 * time.Hour
)

// check makes the domain's programme of d, found at path in the file.
func (d *programme) check(path string, version int64, ps *problems) *domain.Programme {
	at := func(key string) string { return path + "." + key }
	p := &domain.Programme{ID: d.ID, Name: d.Name, Timezone: d.Timezone, Currency: d.Currency, PendingDays: d.PendingDays,
		Floor: d.Floor, PointValue: d.PointValue, Version: version}

	if p.ID == "" {
		ps.add(at("id"), "is required")
	}
	if p.Timezone == "" {
		p.Timezone = defaultTimezone
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		ps.wrap(at("timezone"), err)
	}
	p.Location = loc
	if len(p.Currency) != 3 {
		ps.add(at("currency"), "must be a 3-letter ISO 4217 code")
	}

	p.Earning.Rates = d.Earning.Rates
	if len(p.Earning.Rates) == 0 {
		ps.add(at("earning.rates"), "at least one currency is required")
	}
	for _, cur := range slices.Sorted(maps.Keys(p.Earning.Rates)) {
		rate := at("earning.rates") + "[" + cur + "]"
		if len(cur) != 3 {
			ps.add(rate, "must be keyed by a 3-letter currency code")
		}
		if p.Earning.Rates[cur].IsNegative() {
			ps.add(rate, "must not be negative")
		}
	}
	p.Earning.Rounding = money.RoundFloor
	if d.Earning.Rounding != "" {
		if p.Earning.Rounding, err = money.ParseRounding(d.Earning.Rounding); err != nil {
			ps.wrap(at("earning.rounding"), err)
		}
	}

	if p.PendingDays < 0 || p.PendingDays > 366 {
		ps.add(at("pending_days"), "must be within 0..366")
	}
	p.Backdating.Max, p.Backdating.ImportMax = defaultBackdate, defaultImportBackdate
	if n := d.Backdating.MaxDays; n != nil {
		if *n < 0 || *n > 366 {
			ps.add(at("backdating.max_days"), "must be within 0..366")
		}
		p.Backdating.Max = time.Duration(*n) * 24 * time.Hour
	}
	if n := d.Backdating.ImportMaxDays; n != nil {
		if *n < 0 || *n > 36600 {
			ps.add(at("backdating.import_max_days"), "must be within 0..36600")
		}
		p.Backdating.ImportMax = time.Duration(*n) * 24 * time.Hour
	}
	if p.Backdating.ImportMax < p.Backdating.Max {
		ps.add(at("backdating.import_max_days"), "must not be below backdating.max_days")
	}
	p.Expiry.Policy, p.Expiry.Months = domain.ExpiryPolicy(d.Expiry.Policy), d.Expiry.Months
	switch p.Expiry.Policy {
	case "":
		p.Expiry.Policy = domain.ExpiryNone
	case domain.ExpiryNone:
	case domain.ExpiryLot:
		if p.Expiry.Months <= 0 {
			ps.add(at("expiry.months"), "must be positive for policy %s", domain.ExpiryLot)
		}
	default:
		ps.add(at("expiry.policy"), "unknown policy %q: want %s or %s", p.Expiry.Policy, domain.ExpiryNone, domain.ExpiryLot)
	}

	if p.Floor > 0 {
		ps.add(at("floor"), "must be zero or negative")
	}
	switch p.FloorPolicy = domain.FloorPolicy(d.FloorPolicy); p.FloorPolicy {
	case "":
		p.FloorPolicy = domain.FloorCap
	case domain.FloorCap, domain.FloorReject:
	default:
		ps.add(at("floor_policy"), "unknown policy %q: want %s or %s", p.FloorPolicy, domain.FloorCap, domain.FloorReject)
	}

	p.Holds.DefaultTTL, p.Holds.MaxTTL = d.Holds.DefaultTTL, d.Holds.MaxTTL
	if p.Holds.DefaultTTL == 0 {
		p.Holds.DefaultTTL = defaultHoldTTL
	}
	if p.Holds.MaxTTL == 0 {
		p.Holds.MaxTTL = defaultMaxHoldTTL
	}
	if p.Holds.DefaultTTL < 0 || p.Holds.DefaultTTL > p.Holds.MaxTTL {
		ps.add(at("holds"), "need 0 < default_ttl <= max_ttl, have %s and %s", p.Holds.DefaultTTL, p.Holds.MaxTTL)
	}

	if d.Tiers != nil {
		p.Tiers = d.Tiers.check(at("tiers"), loc, ps)
		if p.Tiers.Basis == domain.TierBasisSpend && !p.Earning.Rates[p.Currency].IsPositive() {
			ps.add(at("tiers.basis"), "qualifying spend needs a positive earning rate for %s", p.Currency)
		}
	}

	p.RFM.WindowMonths, p.RFM.Every = d.RFM.WindowMonths, d.RFM.Every
	if p.RFM.WindowMonths == 0 {
		p.RFM.WindowMonths = defaultRFMWindowMonths
	}
	if p.RFM.Every == 0 {
		p.RFM.Every = defaultRFMEvery
	}
	if p.RFM.WindowMonths < 0 {
		ps.add(at("rfm.window_months"), "must be positive")
	}
	if p.RFM.Every < time.Minute {
		ps.add(at("rfm.every"), "must be at least 1m")
	}
	if th := d.RFM.Thresholds; th != nil {
		p.RFM.Thresholds = &domain.RFMThresholds{RecencyDays: th.RecencyDays, Frequency: th.Frequency, Monetary: th.Monetary}
		if err := p.RFM.Thresholds.Validate(); err != nil {
			for _, e := range each(err) {
				ps.wrap(at("rfm.thresholds"), e)
			}
		}
	}

	if p.PointValue.IsNegative() {
		ps.add(at("point_value"), "must not be negative")
	}
	p.KPI.InactiveDays, p.KPI.HorizonWeeks = d.KPI.InactiveDays, d.KPI.HorizonWeeks
	if p.KPI.InactiveDays == 0 {
		p.KPI.InactiveDays = defaultInactiveDays
	}
	if p.KPI.HorizonWeeks == 0 {
		p.KPI.HorizonWeeks = defaultHorizonWeeks
	}
	if p.KPI.InactiveDays < 0 {
		ps.add(at("kpi.inactive_days"), "must not be negative")
	}
	if p.KPI.HorizonWeeks < 0 {
		ps.add(at("kpi.horizon_weeks"), "must not be negative")
	}

	p.Moments.ExpiringWithinDays, p.Moments.InactiveAfterDays = d.Moments.ExpiringWithinDays, d.Moments.InactiveAfterDays
	if p.Moments.ExpiringWithinDays == 0 {
		p.Moments.ExpiringWithinDays = defaultExpiringWithinDays
	}
	if p.Moments.InactiveAfterDays == 0 {
		p.Moments.InactiveAfterDays = defaultInactiveAfterDays
	}
	if p.Moments.ExpiringWithinDays < 0 {
		ps.add(at("moments.expiring_within_days"), "must not be negative")
	}
	if p.Moments.InactiveAfterDays < 0 {
		ps.add(at("moments.inactive_after_days"), "must not be negative")
	}
	p.Contact = d.checkContact(at, ps)
	return p
}

// checkContact makes the contact pressure policy.
func (d *programme) checkContact(at func(string) string, ps *problems) domain.ContactPolicy {
	var c domain.ContactPolicy
	if c.QuietAfterPurchase = d.Contact.QuietAfterPurchase; c.QuietAfterPurchase < 0 {
		ps.add(at("contact.quiet_after_purchase"), "must not be negative")
	}
	caps := func(key string, list []contactCap, scenario bool) []domain.ContactCap {
		var out []domain.ContactCap
		seen := map[string]bool{}
		for i, cp := range list {
			path := at(fmt.Sprintf("contact.%s[%d]", key, i))
			k := cp.Channel
			switch {
			case scenario && (cp.Channel != "" || !validScenario(cp.Scenario)):
				ps.add(path, "needs a scenario (lower case letters, digits, _ and -) and no channel")
			case !scenario && (cp.Scenario != "" || !slices.Contains(domain.ContactChannels(), cp.Channel)):
				ps.add(path, "needs a channel (one of %s) and no scenario", strings.Join(domain.ContactChannels(), ", "))
			}
			if scenario {
				k = cp.Scenario
			}
			if seen[k] {
				ps.add(path, "%q has a cap already", k)
			}
			seen[k] = true
			if cp.Max < 0 {
				ps.add(path+".max", "must not be negative")
			}
			if cp.Per <= 0 {
				ps.add(path+".per", "must be positive")
			}
			out = append(out, domain.ContactCap{Key: k, Max: cp.Max, Period: cp.Per})
		}
		return out
	}
	c.ChannelCaps = caps("caps", d.Contact.Caps, false)
	c.ScenarioCaps = caps("scenario_caps", d.Contact.ScenarioCaps, true)
	return c
}

// validScenario tells whether s names a scenario as the API does
// (^[a-z][a-z0-9_-]*$, at most 64 characters).
func validScenario(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// check makes the domain's tier policy of d, found at path in the file;
// loc is the programme's time zone.
func (d *tiers) check(path string, loc *time.Location, ps *problems) *domain.TierPolicy {
	at := func(key string) string { return path + "." + key }
	t := &domain.TierPolicy{Basis: d.Basis, Window: d.Window, Months: d.Months, StartMonth: d.StartMonth, Downgrade: d.Downgrade,
		Location: loc}

	switch t.Basis {
	case domain.TierBasisStatusPoints, domain.TierBasisSpend:
	default:
		ps.add(at("basis"), "unknown basis %q: want %s or %s", t.Basis, domain.TierBasisStatusPoints, domain.TierBasisSpend)
	}
	monthsOK := t.Months >= 1 && t.Months <= 120
	if !monthsOK {
		ps.add(at("months"), "must be within 1..120")
	}
	switch t.Window {
	case domain.TierWindowRolling:
	case domain.TierWindowCalendar:
		if t.StartMonth == 0 {
			t.StartMonth = 1
		}
		if t.StartMonth < 1 || t.StartMonth > 12 {
			ps.add(at("start_month"), "must be within 1..12")
		}
		if monthsOK && 12%t.Months != 0 {
			ps.add(at("months"), "calendar periods need months dividing 12")
		}
	default:
		ps.add(at("window"), "unknown window %q: want %s or %s", t.Window, domain.TierWindowRolling, domain.TierWindowCalendar)
	}
	switch t.Downgrade {
	case "":
		t.Downgrade = domain.DowngradeOneStep
	case domain.DowngradeOneStep, domain.DowngradeToQualified:
	default:
		ps.add(at("downgrade"), "unknown downgrade %q: want %s or %s", t.Downgrade, domain.DowngradeOneStep, domain.DowngradeToQualified)
	}

	if len(d.Levels) < 2 {
		ps.add(at("levels"), "need a base tier and at least one more")
	}
	seen := map[string]bool{}
	for i, l := range d.Levels {
		level := fmt.Sprintf("%s[%d]", at("levels"), i)
		switch {
		case l.ID == "":
			ps.add(level+".id", "is required")
		case seen[l.ID]:
			ps.add(level+".id", "duplicate id %q", l.ID)
		}
		seen[l.ID] = true
		switch {
		case i == 0 && !l.Threshold.IsZero():
			ps.add(level+".threshold", "the base tier's threshold must be 0")
		case i > 0 && !l.Threshold.GreaterThan(d.Levels[i-1].Threshold):
			ps.add(level+".threshold", "must be above the threshold of levels[%d]", i-1)
		}
		multiplier := l.Multiplier
		if multiplier.IsZero() {
			multiplier = decimal.NewFromInt(1)
		} else if multiplier.IsNegative() {
			ps.add(level+".multiplier", "must not be negative")
		}
		t.Levels = append(t.Levels, domain.TierLevel{ID: l.ID, Threshold: l.Threshold, Multiplier: multiplier})
	}
	return t
}

// each is the errors err joins, or err alone.
func each(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
