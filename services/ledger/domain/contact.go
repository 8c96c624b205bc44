package domain

import (
	"fmt"
	"time"
)

// Consent purposes.
const (
	PurposeMarketing        = "marketing"
	PurposePartnerMarketing = "partner_marketing"
	PurposeProfiling        = "profiling"
)

// Contact channels.
const (
	ContactEmail = "email"
	ContactSMS   = "sms"
	ContactPush  = "push"
	ContactPost  = "post"
)

// ContactChannels are the channels a member is contacted on, in a stable
// order.
func ContactChannels() []string { return []string{ContactEmail, ContactSMS, ContactPush, ContactPost} }

// ConsentKey is what a consent is for: a purpose and, for marketing, a
// channel ("" for the other purposes).
type ConsentKey struct {
	Purpose string
	Channel string
}

// ConsentKeys are every purpose and channel a member consents to, in a
// stable order: marketing per channel, then partner marketing and
// profiling.
func ConsentKeys() []ConsentKey {
	var ks []ConsentKey
	for _, c := range ContactChannels() {
		ks = append(ks, ConsentKey{PurposeMarketing, c})
	}
	return append(ks, ConsentKey{Purpose: PurposePartnerMarketing}, ConsentKey{Purpose: PurposeProfiling})
}

// Validate refuses a key that is not one of ConsentKeys: marketing needs a
// channel, the other purposes take none.
func (k ConsentKey) Validate() error {
	for _, v := range ConsentKeys() {
		if v == k {
			return nil
		}
	}
	if k.Purpose == PurposeMarketing {
		return fmt.Errorf("marketing consent is per channel: a channel is required")
	}
	return fmt.Errorf("%s consent is not per channel: send no channel", k.Purpose)
}

// ConsentChange is one recorded consent change, never updated.
type ConsentChange struct {
	ID       string
	MemberID string
	// ProgrammeID is the member's programme.
	ProgrammeID string
	ConsentKey
	Granted     bool
	Source      string
	TextVersion string
	// Actor is the principal that recorded it.
	Actor      string
	OccurredAt time.Time
	RecordedAt time.Time
}

// ConsentSourceEnrolment is the source of a consent given at enrolment.
const ConsentSourceEnrolment = "enrolment"

// ContactCap is at most Max contacts per Period: on a channel, or in a
// scenario.
type ContactCap struct {
	// Channel or Scenario the cap counts.
	Key    string
	Max    int
	Period time.Duration
}

func (c ContactCap) String() string { return fmt.Sprintf("%s: %d per %s", c.Key, c.Max, c.Period) }

// ContactPolicy is how much marketing a programme's members receive: caps
// per channel and per scenario over rolling periods, and a quiet period
// after each purchase. A member's exclusions and consent are checked too
// (see DecideContact).
type ContactPolicy struct {
	ChannelCaps  []ContactCap
	ScenarioCaps []ContactCap
	// QuietAfterPurchase: no contact within this long after a purchase
	// (0: none).
	QuietAfterPurchase time.Duration
}

// Lookback is how far back a decision reads a member's contacts: the
// longest period of any cap.
func (p ContactPolicy) Lookback() time.Duration {
	var d time.Duration
	for _, c := range append(append([]ContactCap(nil), p.ChannelCaps...), p.ScenarioCaps...) {
		d = max(d, c.Period)
	}
	return d
}

// Contact is one recorded marketing contact.
type Contact struct {
	ID          string
	MemberID    string
	ProgrammeID string
	Channel     string
	Scenario    string
	CampaignID  string
	At          time.Time
}

// ContactClaim is a campaign's request to contact a member.
type ContactClaim struct {
	Channel, Scenario, CampaignID string
}

// ContactState is what a decision about a member reads: the member's
// current consent for the claim's channel, exclusions in force, last
// purchase, and contacts within the policy's lookback.
type ContactState struct {
	Consent bool
	// Exclusions are the reasons in force, sorted.
	Exclusions   []string
	LastPurchase time.Time
	Contacts     []Contact
}

// Contact rules: the rule that decided a claim.
const (
	RuleAllowed            = "allowed"
	RuleAlreadyClaimed     = "already_claimed"
	RuleNoConsent          = "no_consent"
	RuleExcluded           = "excluded"
	RuleQuietAfterPurchase = "quiet_after_purchase"
	RuleChannelCap         = "channel_cap"
	RuleScenarioCap        = "scenario_cap"
	RuleMemberNotFound     = "member_not_found"
)

// ContactDecision is the answer to a claim.
type ContactDecision struct {
	MemberID string
	Allowed  bool
	Rule     string
	Detail   string
	// Record is set when the decision records a contact.
	Record bool
}

// DecideContact applies a programme's contact policy to a claim at now, in
// a fixed order: a contact the campaign already made on the channel
// (allowed, nothing more recorded), consent, exclusions, the quiet period
// after a purchase, the channel caps, the scenario caps. The first rule
// that refuses decides.
func DecideContact(p ContactPolicy, c ContactClaim, st ContactState, now time.Time) ContactDecision {
	for _, k := range st.Contacts {
		if k.CampaignID == c.CampaignID && k.Channel == c.Channel {
			return ContactDecision{Allowed: true, Rule: RuleAlreadyClaimed, Detail: "contacted at " + k.At.UTC().Format(time.RFC3339)}
		}
	}
	if !st.Consent {
		return ContactDecision{Rule: RuleNoConsent, Detail: "no marketing consent for " + c.Channel}
	}
	if len(st.Exclusions) > 0 {
		return ContactDecision{Rule: RuleExcluded, Detail: st.Exclusions[0]}
	}
	if q := p.QuietAfterPurchase; q > 0 && !st.LastPurchase.IsZero() && now.Sub(st.LastPurchase) < q {
		return ContactDecision{Rule: RuleQuietAfterPurchase, Detail: fmt.Sprintf("no contact within %s of a purchase", q)}
	}
	count := func(cp ContactCap, match func(Contact) bool) bool {
		n := 0
		for _, k := range st.Contacts {
			if match(k) && now.Sub(k.At) < cp.Period {
				n++
			}
		}
		return n >= cp.Max
	}
	for _, cp := range p.ChannelCaps {
		if cp.Key == c.Channel && count(cp, func(k Contact) bool { return k.Channel == cp.Key }) {
			return ContactDecision{Rule: RuleChannelCap, Detail: cp.String()}
		}
	}
	for _, cp := range p.ScenarioCaps {
		if cp.Key == c.Scenario && count(cp, func(k Contact) bool { return k.Scenario == cp.Key }) {
			return ContactDecision{Rule: RuleScenarioCap, Detail: cp.String()}
		}
	}
	return ContactDecision{Allowed: true, Rule: RuleAllowed, Record: true}
}
