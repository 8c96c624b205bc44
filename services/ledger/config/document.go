package config

import (
	"time"

	"github.com/shopspring/decimal"
)

// The structs below are the file as written: every key the file may hold,
// nothing filled in. check turns them into the domain's programmes.

type document struct {
	Version    int64       `yaml:"version"`
	Programmes []programme `yaml:"programmes"`
}

type programme struct {
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	Timezone string `yaml:"timezone"`
	Currency string `yaml:"currency"`
	Earning  struct {
		Rates    map[string]decimal.Decimal `yaml:"rates"`
		Rounding string                     `yaml:"rounding"`
	} `yaml:"earning"`
	PendingDays int `yaml:"pending_days"`
	Backdating  struct {
		MaxDays       *int `yaml:"max_days"`
		ImportMaxDays *int `yaml:"import_max_days"`
	} `yaml:"backdating"`
	Expiry struct {
		Policy string `yaml:"policy"`
		Months int    `yaml:"months"`
	} `yaml:"expiry"`
	Floor       int64  `yaml:"floor"`
	FloorPolicy string `yaml:"floor_policy"`
	Holds       struct {
		DefaultTTL time.Duration `yaml:"default_ttl"`
		MaxTTL     time.Duration `yaml:"max_ttl"`
	} `yaml:"holds"`
	Tiers *tiers `yaml:"tiers"`
	RFM   struct {
		WindowMonths int            `yaml:"window_months"`
		Thresholds   *rfmThresholds `yaml:"thresholds"`
		Every        time.Duration  `yaml:"every"`
	} `yaml:"rfm"`
	PointValue decimal.Decimal `yaml:"point_value"`
	KPI        struct {
		InactiveDays int     `yaml:"inactive_days"`
		HorizonWeeks float64 `yaml:"horizon_weeks"`
	} `yaml:"kpi"`
	Moments struct {
		ExpiringWithinDays int `yaml:"expiring_within_days"`
		InactiveAfterDays  int `yaml:"inactive_after_days"`
	} `yaml:"moments"`
	Contact struct {
		Caps               []contactCap  `yaml:"caps"`
		ScenarioCaps       []contactCap  `yaml:"scenario_caps"`
		QuietAfterPurchase time.Duration `yaml:"quiet_after_purchase"`
	} `yaml:"contact"`
}

// contactCap is at most max contacts per period, on a channel (caps) or
// in a scenario (scenario_caps).
type contactCap struct {
	Channel  string        `yaml:"channel"`
	Scenario string        `yaml:"scenario"`
	Max      int           `yaml:"max"`
	Per      time.Duration `yaml:"per"`
}

type tiers struct {
	Basis      string      `yaml:"basis"`
	Window     string      `yaml:"window"`
	Months     int         `yaml:"months"`
	StartMonth int         `yaml:"start_month"`
	Downgrade  string      `yaml:"downgrade"`
	Levels     []tierLevel `yaml:"levels"`
}

type tierLevel struct {
	ID         string          `yaml:"id"`
	Threshold  decimal.Decimal `yaml:"threshold"`
	Multiplier decimal.Decimal `yaml:"multiplier"`
}

type rfmThresholds struct {
	RecencyDays []int64           `yaml:"recency_days"`
	Frequency   []int64           `yaml:"frequency"`
	Monetary    []decimal.Decimal `yaml:"monetary"`
}
