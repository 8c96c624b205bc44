package domain_test

import (
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// The first rule that refuses decides, in a fixed order; caps count only
// the contacts within their period.
func TestDecideContact(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	pol := domain.ContactPolicy{
		ChannelCaps:        []domain.ContactCap{{Key: domain.ContactEmail, Max: 1, Period: week}},
		ScenarioCaps:       []domain.ContactCap{{Key: "birthday", Max: 1, Period: 365 * 24 * time.Hour}},
		QuietAfterPurchase: 48 * time.Hour,
	}
	claim := domain.ContactClaim{Channel: domain.ContactEmail, Scenario: "birthday", CampaignID: "c"}
	mail := func(campaign, scenario string, ago time.Duration) domain.Contact {
		return domain.Contact{Channel: domain.ContactEmail, Scenario: scenario, CampaignID: campaign, At: now.Add(-ago)}
	}
	for _, tc := range []struct {
		name string
		st   domain.ContactState
		want string
	}{
		{"nothing against", domain.ContactState{Consent: true}, domain.RuleAllowed},
		{"no consent first", domain.ContactState{Exclusions: []string{"x"}}, domain.RuleNoConsent},
		{"the campaign's own contact before consent", domain.ContactState{Contacts: []domain.Contact{mail("c", "birthday", 400*24*time.Hour)}},
			domain.RuleAlreadyClaimed},
		{"exclusion before the quiet period", domain.ContactState{Consent: true, Exclusions: []string{"open_complaint"}, LastPurchase: now},
			domain.RuleExcluded},
		{"purchase 47 h ago", domain.ContactState{Consent: true, LastPurchase: now.Add(-47 * time.Hour)}, domain.RuleQuietAfterPurchase},
		{"purchase 48 h ago", domain.ContactState{Consent: true, LastPurchase: now.Add(-48 * time.Hour)}, domain.RuleAllowed},
		{"an e-mail 6 days ago", domain.ContactState{Consent: true, Contacts: []domain.Contact{mail("d", "news", 6*24*time.Hour)}},
			domain.RuleChannelCap},
		{"an e-mail 7 days ago", domain.ContactState{Consent: true, Contacts: []domain.Contact{mail("d", "news", week)}}, domain.RuleAllowed},
		{"a birthday SMS in the year", domain.ContactState{Consent: true, Contacts: []domain.Contact{{Channel: domain.ContactSMS,
			Scenario: "birthday", CampaignID: "s", At: now.Add(-30 * 24 * time.Hour)}}}, domain.RuleScenarioCap},
	} {
		d := domain.DecideContact(pol, claim, tc.st, now)
		if d.Rule != tc.want || d.Allowed != (tc.want == domain.RuleAllowed || tc.want == domain.RuleAlreadyClaimed) ||
			d.Record != (tc.want == domain.RuleAllowed) {
			t.Errorf("%s: %+v, want %s", tc.name, d, tc.want)
		}
	}
}
