package grpcapi_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

const (
	email = ledgerv1.ContactChannel_CONTACT_CHANNEL_EMAIL
	sms   = ledgerv1.ContactChannel_CONTACT_CHANNEL_SMS
)

func setConsent(t testing.TB, env *ledgertest.Env, member string, purpose ledgerv1.ConsentPurpose, ch ledgerv1.ContactChannel, granted bool) *ledgerv1.ConsentChange {
	t.Helper()
	st := ledgerv1.ConsentState_CONSENT_STATE_WITHHELD
	if granted {
		st = ledgerv1.ConsentState_CONSENT_STATE_GRANTED
	}
	r, err := env.Consent.SetConsent(ctx(t), &ledgerv1.SetConsentRequest{
		IdempotencyKey: key(), MemberId: member, Purpose: purpose, Channel: ch, State: st,
		Source: ledgerv1.ConsentSource_CONSENT_SOURCE_APP, TextVersion: "marketing-2026-01",
	})
	if err != nil {
		t.Fatalf("set consent: %v", err)
	}
	return r.GetChange()
}

func claim(t testing.TB, env *ledgertest.Env, member string, ch ledgerv1.ContactChannel, scenario, campaign string, dryRun bool) *ledgerv1.ContactDecision {
	t.Helper()
	r, err := env.Consent.ClaimContact(ctx(t), &ledgerv1.ClaimContactRequest{
		MemberId: member, Channel: ch, Scenario: scenario, CampaignId: campaign, DryRun: dryRun,
	})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return r.GetDecision()
}

func wantRule(t testing.TB, d *ledgerv1.ContactDecision, allowed bool, rule ledgerv1.ContactRule) {
	t.Helper()
	if d.GetAllowed() != allowed || d.GetRule() != rule {
		t.Fatalf("decision = %v, want allowed %v by %s", d, allowed, rule)
	}
	if recorded := d.GetContactId() != ""; recorded != (rule == ledgerv1.ContactRule_CONTACT_RULE_ALLOWED) && !d.GetAllowed() {
		t.Fatalf("decision %v: a refusal recorded a contact", d)
	}
}

func countRows(t testing.TB, db *sqldb.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Consents are recorded per purpose and channel, the current one read
// back and the full history paged; a retry replays the same change.
func TestConsentHistory(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		req := &ledgerv1.SetConsentRequest{
			IdempotencyKey: key(), MemberId: m, Purpose: ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING, Channel: email,
			State: ledgerv1.ConsentState_CONSENT_STATE_GRANTED, Source: ledgerv1.ConsentSource_CONSENT_SOURCE_WEB, TextVersion: "v1",
		}
		first, err := env.Consent.SetConsent(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := env.Consent.SetConsent(ctx(t), req)
		if err != nil || again.GetChange().GetChangeId() != first.GetChange().GetChangeId() {
			t.Fatalf("retry = %v, %v; want the first change %s", again, err, first.GetChange().GetChangeId())
		}
		env.Clock.Advance(time.Minute)
		setConsent(t, env, m, ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING, email, false)
		env.Clock.Advance(time.Minute)
		setConsent(t, env, m, ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PROFILING, 0, true)

		got, err := env.Consent.GetConsents(ctx(t), &ledgerv1.GetConsentsRequest{MemberId: m})
		if err != nil {
			t.Fatal(err)
		}
		states := map[[2]int32]ledgerv1.ConsentState{}
		for _, c := range got.GetConsents() {
			states[[2]int32{int32(c.GetPurpose()), int32(c.GetChannel())}] = c.GetState()
		}
		if len(got.GetConsents()) != 6 ||
			states[[2]int32{1, int32(email)}] != ledgerv1.ConsentState_CONSENT_STATE_WITHHELD ||
			states[[2]int32{3, 0}] != ledgerv1.ConsentState_CONSENT_STATE_GRANTED ||
			states[[2]int32{1, int32(sms)}] != ledgerv1.ConsentState_CONSENT_STATE_WITHHELD {
			t.Fatalf("consents = %v", got)
		}

		var history []*ledgerv1.ConsentChange
		token := ""
		for pages := 0; ; pages++ {
			r, err := env.Consent.ListConsentHistory(ctx(t), &ledgerv1.ListConsentHistoryRequest{MemberId: m, PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			history = append(history, r.GetChanges()...)
			if token = r.GetNextPageToken(); token == "" {
				break
			}
			if pages > 3 {
				t.Fatal("paging does not end")
			}
		}
		if len(history) != 3 || history[0].GetState() != ledgerv1.ConsentState_CONSENT_STATE_GRANTED ||
			history[0].GetSource() != ledgerv1.ConsentSource_CONSENT_SOURCE_WEB || history[0].GetTextVersion() != "v1" ||
			history[0].GetActor() == "" || history[1].GetState() != ledgerv1.ConsentState_CONSENT_STATE_WITHHELD ||
			history[2].GetPurpose() != ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PROFILING {
			t.Fatalf("history = %v", history)
		}

		// Marketing is per channel; the other purposes are not.
		_, err = env.Consent.SetConsent(ctx(t), &ledgerv1.SetConsentRequest{
			IdempotencyKey: key(), MemberId: m, Purpose: ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING,
			State: ledgerv1.ConsentState_CONSENT_STATE_GRANTED, Source: ledgerv1.ConsentSource_CONSENT_SOURCE_WEB, TextVersion: "v1",
		})
		wantCode(t, err, codes.InvalidArgument)
		_, err = env.Consent.GetConsents(ctx(t), &ledgerv1.GetConsentsRequest{MemberId: uuid.NewString()})
		wantReason(t, err, codes.NotFound, "MEMBER_NOT_FOUND")
	})
}

// Partner marketing consent is the member's partner consent: given at
// enrolment it is the first change of the history (source enrolment), and
// withdrawing it shows on the member at once.
func TestPartnerConsentIsTheMembersFlag(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		r, err := env.Client.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{
			IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-" + key(),
			PartnerMarketingConsent: ledgerv1.ConsentState_CONSENT_STATE_GRANTED,
		})
		if err != nil {
			t.Fatal(err)
		}
		m := r.GetMember().GetMemberId()
		h, err := env.Consent.ListConsentHistory(ctx(t), &ledgerv1.ListConsentHistoryRequest{MemberId: m})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.GetChanges()) != 1 || h.GetChanges()[0].GetSource() != ledgerv1.ConsentSource_CONSENT_SOURCE_ENROLMENT ||
			h.GetChanges()[0].GetPurpose() != ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PARTNER_MARKETING ||
			h.GetChanges()[0].GetState() != ledgerv1.ConsentState_CONSENT_STATE_GRANTED {
			t.Fatalf("history after enrolment = %v", h)
		}
		setConsent(t, env, m, ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PARTNER_MARKETING, 0, false)
		got, err := env.Client.GetMember(ctx(t), &ledgerv1.GetMemberRequest{MemberId: m})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetMember().GetPartnerMarketingConsent() != ledgerv1.ConsentState_CONSENT_STATE_WITHHELD {
			t.Fatalf("member after withdrawal = %v", got.GetMember())
		}
	})
}

// Every rule of the contact policy decides in turn, and names itself; a
// dry run records nothing.
func TestClaimContactRules(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")

		wantRule(t, claim(t, env, m, email, "newsletter", "c1", false), false, ledgerv1.ContactRule_CONTACT_RULE_NO_CONSENT)
		setConsent(t, env, m, ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING, email, true)

		// A dry run decides, and records nothing: the real claim after it
		// is still allowed.
		for range 3 {
			d := claim(t, env, m, email, "newsletter", "c1", true)
			wantRule(t, d, true, ledgerv1.ContactRule_CONTACT_RULE_ALLOWED)
			if d.GetContactId() != "" {
				t.Fatalf("dry run recorded contact %s", d.GetContactId())
			}
		}
		if n := countRows(t, db, "marketing_contacts"); n != 0 {
			t.Fatalf("%d contacts after dry runs, want 0", n)
		}
		d := claim(t, env, m, email, "newsletter", "c1", false)
		wantRule(t, d, true, ledgerv1.ContactRule_CONTACT_RULE_ALLOWED)
		if d.GetContactId() == "" {
			t.Fatal("allowed claim recorded no contact")
		}
		// The same campaign again: allowed, nothing more recorded.
		wantRule(t, claim(t, env, m, email, "newsletter", "c1", false), true, ledgerv1.ContactRule_CONTACT_RULE_ALREADY_CLAIMED)
		// Another campaign within the week: the e-mail cap.
		d = claim(t, env, m, email, "newsletter", "c2", false)
		wantRule(t, d, false, ledgerv1.ContactRule_CONTACT_RULE_CHANNEL_CAP)
		if d.GetDetail() == "" {
			t.Fatal("a cap refusal without detail")
		}
		if n := countRows(t, db, "marketing_contacts"); n != 1 {
			t.Fatalf("%d contacts, want 1", n)
		}
		env.Clock.Advance(7 * 24 * time.Hour)
		wantRule(t, claim(t, env, m, email, "newsletter", "c2", true), true, ledgerv1.ContactRule_CONTACT_RULE_ALLOWED)

		// An exclusion until cleared, or until it ends.
		if _, err := env.Consent.SetContactExclusion(ctx(t), &ledgerv1.SetContactExclusionRequest{
			IdempotencyKey: key(), MemberId: m, Reason: "open_complaint",
		}); err != nil {
			t.Fatal(err)
		}
		d = claim(t, env, m, email, "newsletter", "c2", false)
		wantRule(t, d, false, ledgerv1.ContactRule_CONTACT_RULE_EXCLUDED)
		if d.GetDetail() != "open_complaint" {
			t.Fatalf("exclusion detail = %q", d.GetDetail())
		}
		c, err := env.Consent.ClearContactExclusion(ctx(t), &ledgerv1.ClearContactExclusionRequest{IdempotencyKey: key(), MemberId: m, Reason: "open_complaint"})
		if err != nil || !c.GetCleared() {
			t.Fatalf("clear = %v, %v", c, err)
		}
		if _, err := env.Consent.SetContactExclusion(ctx(t), &ledgerv1.SetContactExclusionRequest{
			IdempotencyKey: key(), MemberId: m, Reason: "fraud_review", EndTime: timestamppb.New(env.Clock.Now().Add(time.Hour)),
		}); err != nil {
			t.Fatal(err)
		}
		wantRule(t, claim(t, env, m, email, "newsletter", "c2", true), false, ledgerv1.ContactRule_CONTACT_RULE_EXCLUDED)
		env.Clock.Advance(time.Hour)

		// No contact within 48 h of a purchase.
		earnPurchase(t, env, m, "20.00")
		wantRule(t, claim(t, env, m, email, "newsletter", "c2", false), false, ledgerv1.ContactRule_CONTACT_RULE_QUIET_AFTER_PURCHASE)
		env.Clock.Advance(48 * time.Hour)
		wantRule(t, claim(t, env, m, email, "newsletter", "c2", false), true, ledgerv1.ContactRule_CONTACT_RULE_ALLOWED)

		// One birthday message a year, whatever the channel's cap.
		setConsent(t, env, m, ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING, sms, true)
		wantRule(t, claim(t, env, m, sms, "birthday", "bday-2026", false), true, ledgerv1.ContactRule_CONTACT_RULE_ALLOWED)
		wantRule(t, claim(t, env, m, sms, "birthday", "bday-2026-again", false), false, ledgerv1.ContactRule_CONTACT_RULE_SCENARIO_CAP)
		wantRule(t, claim(t, env, m, sms, "newsletter", "sms-1", false), true, ledgerv1.ContactRule_CONTACT_RULE_ALLOWED)
		wantRule(t, claim(t, env, m, sms, "newsletter", "sms-2", false), false, ledgerv1.ContactRule_CONTACT_RULE_CHANNEL_CAP)

		// Withdrawing the consent stops the next claim.
		env.Clock.Advance(8 * 24 * time.Hour)
		setConsent(t, env, m, ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING, email, false)
		wantRule(t, claim(t, env, m, email, "newsletter", "c3", false), false, ledgerv1.ContactRule_CONTACT_RULE_NO_CONSENT)

		_, err = env.Consent.ClaimContact(ctx(t), &ledgerv1.ClaimContactRequest{
			MemberId: uuid.NewString(), Channel: email, Scenario: "newsletter", CampaignId: "c1",
		})
		wantReason(t, err, codes.NotFound, "MEMBER_NOT_FOUND")
	})
}

// Campaigns racing for a member's last slot, over gRPC from two replicas
// of the service: exactly one is allowed, and one contact is recorded.
func TestClaimContactRace(t *testing.T) {
	const campaigns = 16
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		envs := replicas(t, db, 2)
		m := enrol(t, envs[0], "test")
		setConsent(t, envs[0], m, ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING, email, true)
		decisions := make([]*ledgerv1.ContactDecision, campaigns)
		var wg sync.WaitGroup
		for i := range campaigns {
			wg.Go(func() {
				r, err := envs[i%2].Consent.ClaimContact(ctx(t), &ledgerv1.ClaimContactRequest{
					MemberId: m, Channel: email, Scenario: "newsletter", CampaignId: "race-" + string(rune('a'+i)),
				})
				if err != nil {
					t.Errorf("claim %d: %v", i, err)
					return
				}
				decisions[i] = r.GetDecision()
			})
		}
		wg.Wait()
		won := 0
		for _, d := range decisions {
			switch {
			case d == nil:
			case d.GetAllowed():
				won++
			case d.GetRule() != ledgerv1.ContactRule_CONTACT_RULE_CHANNEL_CAP:
				t.Errorf("refused by %s, want CHANNEL_CAP", d.GetRule())
			}
		}
		if won != 1 {
			t.Fatalf("%d campaigns won the last slot, want exactly 1", won)
		}
		if n := countRows(t, db, "marketing_contacts"); n != 1 {
			t.Fatalf("%d contacts recorded, want 1", n)
		}
	})
}

// A batch decides each member, in request order: members of another
// programme, or none, are refused MEMBER_NOT_FOUND; a dry run records
// nothing; a retry of the campaign finds its contacts.
func TestBatchClaimContacts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		var ids []string
		for i := range 6 {
			m := enrol(t, env, "test")
			if i%2 == 0 {
				setConsent(t, env, m, ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING, email, true)
			}
			ids = append(ids, m)
		}
		other := enrol(t, env, "tiered")
		ids = append(ids, other, uuid.NewString())
		req := &ledgerv1.BatchClaimContactsRequest{ProgrammeId: "test", Channel: email, Scenario: "newsletter", CampaignId: "spring", MemberIds: ids, DryRun: true}
		check := func(r *ledgerv1.BatchClaimContactsResponse, granted ledgerv1.ContactRule) {
			t.Helper()
			if len(r.GetDecisions()) != len(ids) {
				t.Fatalf("%d decisions for %d members", len(r.GetDecisions()), len(ids))
			}
			for i, d := range r.GetDecisions() {
				want := ledgerv1.ContactRule_CONTACT_RULE_NO_CONSENT
				switch {
				case i >= 6:
					want = ledgerv1.ContactRule_CONTACT_RULE_MEMBER_NOT_FOUND
				case i%2 == 0:
					want = granted
				}
				if d.GetMemberId() != ids[i] || d.GetRule() != want {
					t.Fatalf("decision %d = %v, want %s for %s", i, d, want, ids[i])
				}
			}
		}
		r, err := env.Consent.BatchClaimContacts(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		check(r, ledgerv1.ContactRule_CONTACT_RULE_ALLOWED)
		if n := countRows(t, db, "marketing_contacts") + countRows(t, db, "contact_state"); n != 0 {
			t.Fatalf("a dry run wrote %d rows", n)
		}
		req.DryRun = false
		if r, err = env.Consent.BatchClaimContacts(ctx(t), req); err != nil {
			t.Fatal(err)
		}
		check(r, ledgerv1.ContactRule_CONTACT_RULE_ALLOWED)
		if n := countRows(t, db, "marketing_contacts"); n != 3 {
			t.Fatalf("%d contacts, want 3", n)
		}
		if r, err = env.Consent.BatchClaimContacts(ctx(t), req); err != nil {
			t.Fatal(err)
		}
		check(r, ledgerv1.ContactRule_CONTACT_RULE_ALREADY_CLAIMED)
		req.ProgrammeId = "nope"
		_, err = env.Consent.BatchClaimContacts(ctx(t), req)
		wantCode(t, err, codes.NotFound)
	})
}
