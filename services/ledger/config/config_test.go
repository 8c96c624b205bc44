package config_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// mistakes are the lines of err after its first (which names the file).
func mistakes(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	return lines[1:]
}

// A file with many mistakes is refused with every one of them, one per
// line, each at its path, in the order of the file.
func TestEveryMistakeAtOnce(t *testing.T) {
	path := filepath.Join("testdata", "mistakes.yaml")
	_, err := config.Load(path)
	if err == nil {
		t.Fatal("accepted")
	}
	if first := strings.SplitN(err.Error(), "\n", 2)[0]; first != "programme config "+path+":" {
		t.Errorf("first line %q does not name the file", first)
	}
	want := []string{
		"line 46: field colour not found in type config.programme",
		"version: must be a positive integer",
		"programmes[0].timezone: unknown time zone Mars/Olympus",
		"programmes[0].currency: must be a 3-letter ISO 4217 code",
		"programmes[0].earning.rates[EUR]: must not be negative",
		"programmes[0].earning.rates[EURO]: must be keyed by a 3-letter currency code",
		`programmes[0].earning.rounding: unknown rounding "up": want floor, ceil, half_up or half_even`,
		"programmes[0].pending_days: must be within 0..366",
		"programmes[0].expiry.months: must be positive for policy lot",
		"programmes[0].floor: must be zero or negative",
		`programmes[0].floor_policy: unknown policy "forgive": want cap or reject`,
		"programmes[0].holds: need 0 < default_ttl <= max_ttl, have 2h0m0s and 1h0m0s",
		`programmes[0].tiers.basis: unknown basis "miles": want status_points or qualifying_spend`,
		"programmes[0].tiers.start_month: must be within 1..12",
		"programmes[0].tiers.months: calendar periods need months dividing 12",
		`programmes[0].tiers.downgrade: unknown downgrade "sideways": want one_step or to_qualified`,
		"programmes[0].tiers.levels[0].threshold: the base tier's threshold must be 0",
		`programmes[0].tiers.levels[1].id: duplicate id "blue"`,
		"programmes[0].tiers.levels[1].threshold: must be above the threshold of levels[0]",
		"programmes[0].tiers.levels[1].multiplier: must not be negative",
		"programmes[0].rfm.window_months: must be positive",
		"programmes[0].rfm.every: must be at least 1m",
		"programmes[0].rfm.thresholds: recency_days: need 4 cut points, got 3",
		"programmes[0].rfm.thresholds: frequency: cut points must be >= 1 purchase, got 0",
		"programmes[0].point_value: must not be negative",
		"programmes[0].kpi.inactive_days: must not be negative",
		"programmes[0].kpi.horizon_weeks: must not be negative",
		"programmes[0].moments.expiring_within_days: must not be negative",
		"programmes[0].moments.inactive_after_days: must not be negative",
		"programmes[0].contact.quiet_after_purchase: must not be negative",
		"programmes[0].contact.caps[0]: needs a channel (one of email, sms, push, post) and no scenario",
		"programmes[0].contact.caps[1].max: must not be negative",
		"programmes[0].contact.caps[1].per: must be positive",
		`programmes[0].contact.caps[2]: "email" has a cap already`,
		"programmes[0].contact.scenario_caps[0]: needs a scenario (lower case letters, digits, _ and -) and no channel",
		"programmes[1].id: is required",
		`programmes[1].expiry.policy: unknown policy "forever": want none or lot`,
		`programmes[2].id: "p" is already the id of programmes[0]`,
		"programmes[2].tiers.months: must be within 1..120",
		"programmes[2].tiers.levels: need a base tier and at least one more",
		"programmes[2].tiers.basis: qualifying spend needs a positive earning rate for EUR",
	}
	if got := mistakes(t, err); !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const valid = `
version: 1
programmes:
  - id: p
    timezone: Europe/Paris
    currency: EUR
    earning: {rates: {EUR: "1"}}
    tiers:
      basis: status_points
      window: rolling
      months: 12
      downgrade: one_step
      levels:
        - {id: blue, threshold: 0}
        - {id: silver, threshold: 300, multiplier: "1.5"}
        - {id: gold, threshold: 1000, multiplier: "2"}
`

// Each rule on its own: one mistake, one line, nothing else reported.
func TestEachRuleAlone(t *testing.T) {
	if _, err := config.Parse([]byte(valid)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ from, to, want string }{
		"no version":       {"version: 1", "", "version: must be a positive integer"},
		"no rates":         {`earning: {rates: {EUR: "1"}}`, "", "programmes[0].earning.rates: at least one currency is required"},
		"bad timezone":     {"Europe/Paris", "Mars/Olympus", "programmes[0].timezone: unknown time zone Mars/Olympus"},
		"positive floor":   {"currency: EUR", "currency: EUR\n    floor: 5", "programmes[0].floor: must be zero or negative"},
		"bad rounding":     {`{EUR: "1"}}`, `{EUR: "1"}, rounding: up}`, `programmes[0].earning.rounding: unknown rounding "up": want floor, ceil, half_up or half_even`},
		"lot no months":    {"currency: EUR", "currency: EUR\n    expiry: {policy: lot}", "programmes[0].expiry.months: must be positive for policy lot"},
		"unknown key":      {"currency: EUR", "currency: EUR\n    colour: red", "line 7: field colour not found in type config.programme"},
		"base not zero":    {"{id: blue, threshold: 0}", "{id: blue, threshold: 10}", "programmes[0].tiers.levels[0].threshold: the base tier's threshold must be 0"},
		"not increasing":   {"threshold: 1000", "threshold: 200", "programmes[0].tiers.levels[2].threshold: must be above the threshold of levels[1]"},
		"bad basis":        {"basis: status_points", "basis: miles", `programmes[0].tiers.basis: unknown basis "miles": want status_points or qualifying_spend`},
		"bad window":       {"window: rolling", "window: sliding", `programmes[0].tiers.window: unknown window "sliding": want rolling or calendar`},
		"duplicate tier":   {"id: gold", "id: silver", `programmes[0].tiers.levels[2].id: duplicate id "silver"`},
		"calendar 0 month": {"window: rolling\n      months: 12", "window: calendar", "programmes[0].tiers.months: must be within 1..120"},
		"calendar 5 month": {"window: rolling\n      months: 12", "window: calendar\n      months: 5", "programmes[0].tiers.months: calendar periods need months dividing 12"},
		"spend":            {"basis: status_points", "basis: qualifying_spend", ""},
	} {
		text := strings.Replace(valid, tc.from, tc.to, 1)
		if text == valid {
			t.Fatalf("%s: %q is not in the file", name, tc.from)
		}
		_, err := config.Parse([]byte(text))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if got := mistakes(t, err); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: got\n%s\nwant\n%s", name, strings.Join(got, "\n"), tc.want)
		}
	}
	// A value of the wrong type is reported, and what the zero value
	// breaks too.
	_, err := config.Parse([]byte(strings.Replace(valid, "version: 1", "version: one", 1)))
	if got, want := mistakes(t, err), []string{"line 2: cannot unmarshal !!str `one` into int64", "version: must be a positive integer"}; !slices.Equal(got, want) {
		t.Errorf("a version of the wrong type: %q", got)
	}
	_, err = config.Parse([]byte(strings.Replace(strings.Replace(valid, "basis: status_points", "basis: qualifying_spend", 1),
		`{EUR: "1"}`, `{EUR: "0", USD: "1"}`, 1)))
	if got, want := mistakes(t, err), []string{"programmes[0].tiers.basis: qualifying spend needs a positive earning rate for EUR"}; !slices.Equal(got, want) {
		t.Errorf("qualifying spend at a zero rate: %q", got)
	}
}

// What a file leaves out is filled in.
func TestDefaults(t *testing.T) {
	c, err := config.Parse([]byte("version: 4\nprogrammes: [{id: p, currency: EUR, earning: {rates: {EUR: '2'}}, tiers: {basis: status_points, " +
		"window: calendar, months: 6, levels: [{id: a, threshold: 0}, {id: b, threshold: 10}]}}]"))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Programme("p")
	if !ok || c.Version != 4 || p.Version != 4 {
		t.Fatalf("programme p of version 4: %v, %d, %+v", ok, c.Version, p)
	}
	for _, check := range []struct {
		what      string
		got, want any
	}{
		{"timezone", p.Timezone, "UTC"},
		{"location", p.Location, time.UTC},
		{"rounding", p.Earning.Rounding, money.RoundFloor},
		{"expiry", p.Expiry.Policy, domain.ExpiryNone},
		{"floor policy", p.FloorPolicy, domain.FloorCap},
		{"hold ttl", p.Holds.DefaultTTL, 15 * time.Minute},
		{"max hold ttl", p.Holds.MaxTTL, 24 * time.Hour},
		{"rfm window", p.RFM.WindowMonths, 12},
		{"rfm every", p.RFM.Every, 24 * time.Hour},
		{"inactive days", p.KPI.InactiveDays, 90},
		{"horizon", p.KPI.HorizonWeeks, 52.0},
		{"expiring within", p.Moments.ExpiringWithinDays, 30},
		{"inactive after", p.Moments.InactiveAfterDays, 90},
		{"tier downgrade", p.Tiers.Downgrade, domain.DowngradeOneStep},
		{"calendar start", p.Tiers.StartMonth, 1},
		{"tier location", p.Tiers.Location, time.UTC},
		{"base multiplier", p.Tiers.Levels[0].Multiplier.String(), "1"},
	} {
		if check.got != check.want {
			t.Errorf("%s: %v, want %v", check.what, check.got, check.want)
		}
	}
	if !p.PointValue.Equal(decimal.Zero) || p.Tiers.Levels[1].Multiplier.String() != "1" {
		t.Errorf("point value %s, multiplier %s", p.PointValue, p.Tiers.Levels[1].Multiplier)
	}
}

func TestLoad(t *testing.T) {
	c, err := config.Load("")
	if err != nil {
		t.Fatalf("the built-in configuration: %v", err)
	}
	if p, ok := c.Programme("default"); !ok || p.Tiers == nil || p.Location.String() != "Europe/Paris" {
		t.Fatalf("the built-in programme: %+v", p)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// A file that is not YAML can say nothing more; an empty one is a
// document without anything in it.
func TestNotYAML(t *testing.T) {
	_, err := config.Parse([]byte("version: 1\nprogrammes: [{id: p\n"))
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "programme config: yaml: ") {
		t.Errorf("broken YAML: %v", err)
	}
	_, err = config.Parse([]byte("version: 1\nprogrammes: []"))
	if got, want := mistakes(t, err), []string{"programmes: at least one programme is required"}; !slices.Equal(got, want) {
		t.Errorf("no programmes: %q", got)
	}
	_, err = config.Parse(nil)
	if got, want := mistakes(t, err), []string{"version: must be a positive integer", "programmes: at least one programme is required"}; !slices.Equal(got, want) {
		t.Errorf("empty file: %q", got)
	}
}
