package grpcapi_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/partners/partnerstest"
)

// Partner offers honour the member's current partner marketing consent
// (ConsentService), read when the offer is used: withdrawn, the offer no
// longer lists nor applies; given again, it does.
func TestPartnerOffersFollowCurrentConsent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		hotel := createPartner(t, env, "tiered", "EUR", "1")
		as := partnerstest.As(ctx(t), hotel.key)
		r, err := env.Admin.CreateOffer(ctx(t), &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: hotel.id,
			Terms: &partnersv1.OfferTerms{Name: "Welcome bonus", Bonus: fixedBonus(100), BudgetPoints: 10000}})
		if err != nil {
			t.Fatal(err)
		}
		welcome := r.GetOffer().GetOfferId()
		member, card := enrolCard(t, env, "tiered", true)
		ref := link(t, env, hotel, card)
		setPartnerConsent := func(st ledgerv1.ConsentState) {
			t.Helper()
			if _, err := env.Consent.SetConsent(ctx(t), &ledgerv1.SetConsentRequest{
				IdempotencyKey: key(), MemberId: member, Purpose: ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PARTNER_MARKETING, State: st,
				Source: ledgerv1.ConsentSource_CONSENT_SOURCE_APP, TextVersion: "partners-2026-01",
			}); err != nil {
				t.Fatal(err)
			}
		}
		earn := func() (*partnersv1.EarnResponse, error) {
			return env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("50"), OfferId: welcome})
		}

		setPartnerConsent(ledgerv1.ConsentState_CONSENT_STATE_WITHHELD)
		lo, err := env.Partners.ListOffers(as, &partnersv1.ListOffersRequest{MemberRef: ref})
		if err != nil || lo.GetConsent() || len(lo.GetOffers()) != 0 {
			t.Fatalf("offers after withdrawal %v %v", lo, err)
		}
		_, err = earn()
		wantCode(t, err, codes.FailedPrecondition)

		setPartnerConsent(ledgerv1.ConsentState_CONSENT_STATE_GRANTED)
		e, err := earn()
		if err != nil || e.GetBonusPoints() != 100 {
			t.Fatalf("earn with consent given again %v %v", e, err)
		}
	})
}
