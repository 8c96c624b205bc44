package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/partners/partnerstest"
)

// errorInfo is the ErrorInfo of a status error (nil if it has none).
func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// wantReason asserts an error's code and the reason of its ErrorInfo.
func wantReason(t testing.TB, what string, err error, c codes.Code, reason typev1.ErrorReason) {
	t.Helper()
	info := errorInfo(err)
	if status.Code(err) != c || info.GetReason() != reason.String() || info.GetDomain() != "fidelis-loyalty.github.io" {
		t.Fatalf("%s: %v (ErrorInfo %v), want %s with reason %s", what, err, info, c, reason)
	}
}

func eur(amount string) *partnersv1.EarnRequest_Money {
	return &partnersv1.EarnRequest_Money{Money: &typev1.Money{Amount: amount, CurrencyCode: "EUR"}}
}

func fixedBonus(points int64) *partnersv1.OfferTerms_FixedBonus {
	return &partnersv1.OfferTerms_FixedBonus{FixedBonus: &partnersv1.FixedBonus{Points: points}}
}

func miles(amount string) *partnersv1.EarnRequest_Miles {
	return &partnersv1.EarnRequest_Miles{Miles: amount}
}

func createOffer(t testing.TB, env *partnerstest.Env, partnerID string, terms *partnersv1.OfferTerms) string {
	t.Helper()
	r, err := env.Admin.CreateOffer(ctx(t), &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: partnerID, Terms: terms})
	if err != nil {
		t.Fatalf("create offer %q: %v", terms.GetName(), err)
	}
	return r.GetOffer().GetOfferId()
}

// Every refusal of the partner services names its reason in an ErrorInfo,
// over a real connection; a transaction the ledger refused replays with
// the ledger's reason (and the transaction's id) to a retry with its key.
func TestPartnerRefusalReasons(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		hotel := createPartner(t, env, "tiered", "EUR", "1")
		airline := createPartner(t, env, "test", "MILES", "0.1")
		as, asAirline := partnerstest.As(ctx(t), hotel.key), partnerstest.As(ctx(t), airline.key)
		earn := func(c context.Context, ref string, amount *partnersv1.EarnRequest_Money, offerID string) error {
			_, err := env.Partners.Earn(c, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: amount, OfferId: offerID})
			return err
		}

		silver := createOffer(t, env, hotel.id, &partnersv1.OfferTerms{Name: "Silver", Bonus: fixedBonus(10), Tiers: []string{"silver"},
			BudgetPoints: 1000})
		welcome := createOffer(t, env, hotel.id, &partnersv1.OfferTerms{Name: "Welcome", Bonus: fixedBonus(100),
			MemberCap:   &partnersv1.MemberCap{Times: 1, Period: partnersv1.CapPeriod_CAP_PERIOD_MONTH},
			MinInterval: durationpb.New(40 * 24 * time.Hour), BudgetPoints: 10000})
		flash := createOffer(t, env, hotel.id, &partnersv1.OfferTerms{Name: "Flash", Bonus: fixedBonus(100), BudgetPoints: 100})
		elsewhere := createOffer(t, env, airline.id, &partnersv1.OfferTerms{Name: "Elsewhere", Bonus: fixedBonus(5), BudgetPoints: 50})

		_, quietCard := enrolCard(t, env, "tiered", false)
		quiet := link(t, env, hotel, quietCard)
		wantReason(t, "offer without consent", earn(as, quiet, eur("50"), welcome), codes.FailedPrecondition, typev1.ErrorReason_OFFER_NO_CONSENT)

		_, card := enrolCard(t, env, "tiered", true)
		ref := link(t, env, hotel, card)
		wantReason(t, "offer of another tier", earn(as, ref, eur("50"), silver), codes.FailedPrecondition, typev1.ErrorReason_OFFER_NOT_APPLICABLE)
		if err := earn(as, ref, eur("50"), welcome); err != nil {
			t.Fatal(err)
		}
		wantReason(t, "offer used up this month", earn(as, ref, eur("50"), welcome), codes.FailedPrecondition, typev1.ErrorReason_OFFER_CAP_REACHED)
		env.Clock.Advance(35 * 24 * time.Hour)
		wantReason(t, "offer within its interval", earn(as, ref, eur("50"), welcome), codes.FailedPrecondition, typev1.ErrorReason_OFFER_COOLDOWN)

		_, card2 := enrolCard(t, env, "tiered", true)
		_, card3 := enrolCard(t, env, "tiered", true)
		ref2, ref3 := link(t, env, hotel, card2), link(t, env, hotel, card3)
		if err := earn(as, ref2, eur("10"), flash); err != nil {
			t.Fatal(err)
		}
		wantReason(t, "offer over budget", earn(as, ref3, eur("10"), flash), codes.FailedPrecondition, typev1.ErrorReason_OFFER_BUDGET_EXHAUSTED)
		wantReason(t, "another partner's offer", earn(as, ref3, eur("10"), elsewhere), codes.PermissionDenied, typev1.ErrorReason_OTHER_PARTNERS)
		wantReason(t, "an offer unknown", earn(as, ref3, eur("10"), "01a2b3c4-0000-7000-8000-000000000000"), codes.NotFound,
			typev1.ErrorReason_OFFER_NOT_FOUND)
		wantReason(t, "a member not linked", earn(as, "pm_unknown", eur("10"), ""), codes.NotFound, typev1.ErrorReason_MEMBER_NOT_LINKED)
		_, err := env.Partners.GetMemberBalance(asAirline, &partnersv1.GetMemberBalanceRequest{MemberRef: ref})
		wantReason(t, "another partner's member", err, codes.PermissionDenied, typev1.ErrorReason_OTHER_PARTNERS)
		_, err = env.Partners.Earn(asAirline, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref,
			Amount: miles("100"), ProgrammeId: "tiered"})
		wantReason(t, "another programme", err, codes.PermissionDenied, typev1.ErrorReason_PROGRAMME_NOT_ALLOWED)
		_, err = env.Partners.LinkMember(asAirline, &partnersv1.LinkMemberRequest{IdempotencyKey: key(), CardNumber: "no-such-card"})
		wantReason(t, "a card unknown", err, codes.NotFound, typev1.ErrorReason_MEMBER_NOT_FOUND)

		_, airlineCard := enrolCard(t, env, "test", false)
		milesRef := link(t, env, airline, airlineCard)
		_, err = env.Partners.Earn(asAirline, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: milesRef,
			Amount: miles("5")})
		wantReason(t, "an earn of no points", err, codes.FailedPrecondition, typev1.ErrorReason_NO_POINTS_EARNED)

		// The ledger refuses the burn: the partner transaction fails with
		// the ledger's reason, and its key replays exactly that.
		burn := &partnersv1.BurnRequest{IdempotencyKey: key(), MemberRef: milesRef, Points: 10}
		_, first := env.Partners.Burn(asAirline, burn)
		wantReason(t, "a burn above the balance", first, codes.FailedPrecondition, typev1.ErrorReason_INSUFFICIENT_POINTS)
		txn := errorInfo(first).GetMetadata()["transaction_id"]
		if txn == "" {
			t.Fatalf("the failed burn's ErrorInfo names no transaction: %v", errorInfo(first))
		}
		if _, err := env.Partners.Earn(asAirline, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: milesRef,
			Amount: miles("1000")}); err != nil {
			t.Fatal(err)
		}
		_, again := env.Partners.Burn(asAirline, burn) // the member could pay now: the key still replays the refusal
		wantReason(t, "the replayed burn", again, codes.FailedPrecondition, typev1.ErrorReason_INSUFFICIENT_POINTS)
		if !proto.Equal(status.Convert(again).Proto(), status.Convert(first).Proto()) {
			t.Fatalf("replayed refusal %v, first %v", status.Convert(again).Proto(), status.Convert(first).Proto())
		}
		var reason string
		if err := db.QueryRowContext(ctx(t), `SELECT failure_reason FROM partners_txns WHERE txn_id = $1`, txn).Scan(&reason); err != nil ||
			reason != "INSUFFICIENT_POINTS" {
			t.Fatalf("stored failure reason %q %v", reason, err)
		}

		_, err = env.Admin.GetPartner(ctx(t), &partnersv1.GetPartnerRequest{PartnerId: "01a2b3c4-0000-7000-8000-000000000000"})
		wantReason(t, "a partner unknown", err, codes.NotFound, typev1.ErrorReason_PARTNER_NOT_FOUND)
		_, err = env.Admin.GetPartner(ctx(t), &partnersv1.GetPartnerRequest{PartnerId: "nope"})
		wantReason(t, "a partner id that is no UUID", err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)

		// A suspended partner is refused every call.
		p, err := env.Admin.GetPartner(ctx(t), &partnersv1.GetPartnerRequest{PartnerId: airline.id})
		if err != nil || p.GetPartner().GetState() != partnersv1.PartnerState_PARTNER_STATE_ACTIVE ||
			p.GetPartner().GetEarnUnit() != partnersv1.EarnUnit_EARN_UNIT_MILES || p.GetPartner().GetEarnCurrencyCode() != "" {
			t.Fatalf("partner %v %v", p, err)
		}
		if _, err := db.ExecContext(ctx(t), `UPDATE partners_partners SET active = $1 WHERE partner_id = $2`, false, airline.id); err != nil {
			t.Fatal(err)
		}
		_, err = env.Partners.GetMemberBalance(asAirline, &partnersv1.GetMemberBalanceRequest{MemberRef: milesRef})
		wantReason(t, "a suspended partner", err, codes.PermissionDenied, typev1.ErrorReason_PARTNER_SUSPENDED)
		if p, err := env.Admin.GetPartner(ctx(t), &partnersv1.GetPartnerRequest{PartnerId: airline.id}); err != nil ||
			p.GetPartner().GetState() != partnersv1.PartnerState_PARTNER_STATE_SUSPENDED {
			t.Fatalf("suspended partner %v %v", p, err)
		}
		h, err := env.Admin.GetPartner(ctx(t), &partnersv1.GetPartnerRequest{PartnerId: hotel.id})
		if err != nil || h.GetPartner().GetEarnUnit() != partnersv1.EarnUnit_EARN_UNIT_CURRENCY || h.GetPartner().GetEarnCurrencyCode() != "EUR" {
			t.Fatalf("hotel %v %v", h, err)
		}
	})
}

// The cross-field rules are in the schema: refused as INVALID_ARGUMENT
// before anything runs.
func TestPartnerSchemaRules(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		hotel := createPartner(t, env, "tiered", "EUR", "1")
		as := partnerstest.As(ctx(t), hotel.key)
		_, card := enrolCard(t, env, "tiered", true)
		ref := link(t, env, hotel, card)
		now := env.Clock.Now()
		before := partnerRows(t, env)

		partner := func(edit func(r *partnersv1.CreatePartnerRequest)) error {
			r := &partnersv1.CreatePartnerRequest{IdempotencyKey: key(), Name: "X", ProgrammeId: "tiered",
				EarnUnit: partnersv1.EarnUnit_EARN_UNIT_CURRENCY, EarnCurrencyCode: "EUR", EarnRate: "1", Rounding: partnersv1.Rounding_ROUNDING_FLOOR,
				PricePerPoint: &typev1.Money{Amount: "0.01", CurrencyCode: "EUR"}, ValuePerPoint: &typev1.Money{Amount: "0.01", CurrencyCode: "EUR"}}
			edit(r)
			_, err := env.Admin.CreatePartner(ctx(t), r)
			return err
		}
		offer := func(edit func(o *partnersv1.OfferTerms)) error {
			o := &partnersv1.OfferTerms{Name: "X", Bonus: fixedBonus(10), BudgetPoints: 100}
			edit(o)
			_, err := env.Admin.CreateOffer(ctx(t), &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: hotel.id, Terms: o})
			return err
		}
		_, badPeriod := env.Partners.GetStatement(as, &partnersv1.GetStatementRequest{PeriodStart: timestamppb.New(now), PeriodEnd: timestamppb.New(now)})
		_, badAdminPeriod := env.Admin.GetPartnerStatement(ctx(t), &partnersv1.GetPartnerStatementRequest{PartnerId: hotel.id,
			PeriodStart: timestamppb.New(now), PeriodEnd: timestamppb.New(now.Add(-time.Hour))})
		_, zeroEarn := env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("0.00")})
		_, noAmount := env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref})
		_, milesOfHotel := env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref,
			Amount: miles("10")})
		_, auditOfNoUUID := env.Admin.ListAudit(ctx(t), &partnersv1.ListAuditRequest{PartnerId: "acme"})
		for what, err := range map[string]error{
			"period_end at period_start":            badPeriod,
			"period_end before start":               badAdminPeriod,
			"an earn of nothing":                    zeroEarn,
			"an earn without an amount":             noAmount,
			"miles to a partner in EUR":             milesOfHotel,
			"audit of a partner id that is no UUID": auditOfNoUUID,
			"a currency partner without currency":   partner(func(r *partnersv1.CreatePartnerRequest) { r.EarnCurrencyCode = "" }),
			"a miles partner with a currency": partner(func(r *partnersv1.CreatePartnerRequest) {
				r.EarnUnit = partnersv1.EarnUnit_EARN_UNIT_MILES
			}),
			"value in another currency": partner(func(r *partnersv1.CreatePartnerRequest) { r.ValuePerPoint.CurrencyCode = "USD" }),
			"a price of nothing":        partner(func(r *partnersv1.CreatePartnerRequest) { r.PricePerPoint.Amount = "0" }),
			"a rate of nothing":         partner(func(r *partnersv1.CreatePartnerRequest) { r.EarnRate = "0.0" }),
			"a negative value":          partner(func(r *partnersv1.CreatePartnerRequest) { r.ValuePerPoint.Amount = "-0.01" }),
			"valid_until before valid_from": offer(func(o *partnersv1.OfferTerms) {
				o.ValidFrom, o.ValidUntil = timestamppb.New(now.Add(time.Hour)), timestamppb.New(now)
			}),
			"an offer without a bonus": offer(func(o *partnersv1.OfferTerms) { o.Bonus = nil }),
			"a factor of 1": offer(func(o *partnersv1.OfferTerms) {
				o.Bonus = &partnersv1.OfferTerms_Multiplier{Multiplier: &partnersv1.MultiplierBonus{Factor: "1.0"}}
			}),
			"a cap without a period": offer(func(o *partnersv1.OfferTerms) { o.MemberCap = &partnersv1.MemberCap{Times: 2} }),
			"a tier twice":           offer(func(o *partnersv1.OfferTerms) { o.Tiers = []string{"gold", "gold"} }),
		} {
			wantReason(t, what, err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
		}
		sameRows(t, before, partnerRows(t, env))

		// What the rules allow passes.
		if err := offer(func(o *partnersv1.OfferTerms) {
			o.Bonus = &partnersv1.OfferTerms_Multiplier{Multiplier: &partnersv1.MultiplierBonus{Factor: "1.5"}}
			o.ValidFrom, o.ValidUntil = timestamppb.New(now), timestamppb.New(now.Add(time.Hour))
			o.MemberCap = &partnersv1.MemberCap{Times: 2, Period: partnersv1.CapPeriod_CAP_PERIOD_DAY}
		}); err != nil {
			t.Fatal(err)
		}
	})
}

// ListOffers, ListProgrammeOffers and ListAudit page; a page size above
// the maximum is capped, and a page token continues only the request that
// returned it.
func TestPartnerListsPage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		hotel := createPartner(t, env, "tiered", "EUR", "1")
		spa := createPartner(t, env, "tiered", "EUR", "1")
		as := partnerstest.As(ctx(t), hotel.key)
		var all, eligible []string
		for i := range 7 {
			terms := &partnersv1.OfferTerms{Name: "Offer", Bonus: fixedBonus(10), BudgetPoints: 1000}
			if i%3 == 1 {
				terms.Tiers = []string{"platinum"} // not the member's
			}
			id := createOffer(t, env, hotel.id, terms)
			all = append(all, id)
			if i%3 != 1 {
				eligible = append(eligible, id)
			}
			env.Clock.Advance(time.Second)
		}
		createOffer(t, env, spa.id, &partnersv1.OfferTerms{Name: "Spa", Bonus: fixedBonus(10), BudgetPoints: 1000})
		_, card := enrolCard(t, env, "tiered", true)
		_, card2 := enrolCard(t, env, "tiered", true)
		ref, ref2 := link(t, env, hotel, card), link(t, env, hotel, card2)
		if _, err := env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref2, Amount: eur("10")}); err != nil {
			t.Fatal(err)
		}

		// The member's eligible offers, two a page.
		var got []string
		req := &partnersv1.ListOffersRequest{MemberRef: ref, PageSize: 2}
		for pages := 0; ; pages++ {
			r, err := env.Partners.ListOffers(as, req)
			if err != nil || pages > 5 || len(r.GetOffers()) > 2 || !r.GetConsent() {
				t.Fatalf("offers page %d: %v %v", pages, r, err)
			}
			for _, o := range r.GetOffers() {
				got = append(got, o.GetOfferId())
			}
			if req.PageToken = r.GetNextPageToken(); req.PageToken == "" {
				break
			}
			if pages == 0 {
				// Another member's listing refuses the token.
				_, err := env.Partners.ListOffers(as, &partnersv1.ListOffersRequest{MemberRef: ref2, PageToken: req.PageToken})
				wantReason(t, "a token of another member's offers", err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
			}
		}
		if len(got) != len(eligible) || got[0] != eligible[0] || got[len(got)-1] != eligible[len(eligible)-1] {
			t.Fatalf("eligible offers paged %v, want %v", got, eligible)
		}
		if r, err := env.Partners.ListOffers(as, &partnersv1.ListOffersRequest{MemberRef: ref, PageSize: 1 << 30}); err != nil ||
			len(r.GetOffers()) != len(eligible) || r.GetNextPageToken() != "" {
			t.Fatalf("a page size above the maximum: %v %v", r, err)
		}

		// The programme's offers, three a page: the hotel's and the spa's.
		got = nil
		preq := &partnersv1.ListProgrammeOffersRequest{ProgrammeId: "tiered", PageSize: 3}
		for pages := 0; ; pages++ {
			r, err := env.Admin.ListProgrammeOffers(ctx(t), preq)
			if err != nil || pages > 5 || len(r.GetOffers()) > 3 {
				t.Fatalf("programme offers page %d: %v %v", pages, r, err)
			}
			for _, o := range r.GetOffers() {
				got = append(got, o.GetOfferId())
			}
			if preq.PageToken = r.GetNextPageToken(); preq.PageToken == "" {
				break
			}
			_, err = env.Admin.ListProgrammeOffers(ctx(t), &partnersv1.ListProgrammeOffersRequest{ProgrammeId: "test", PageToken: preq.PageToken})
			wantReason(t, "a token of another programme's offers", err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
			_, err = env.Partners.ListOffers(as, &partnersv1.ListOffersRequest{MemberRef: ref, PageToken: preq.PageToken})
			wantReason(t, "a token of another listing", err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
		}
		if len(got) != len(all)+1 || got[0] != all[0] || got[len(all)-1] != all[len(all)-1] {
			t.Fatalf("programme offers paged %v, want %v and the spa's", got, all)
		}

		// The audit: a token of the hotel's audit continues the hotel's
		// only.
		env.Access.Flush(t)
		first, err := env.Admin.ListAudit(ctx(t), &partnersv1.ListAuditRequest{PartnerId: hotel.id, PageSize: 1})
		if err != nil || len(first.GetEntries()) != 1 || first.GetNextPageToken() == "" {
			t.Fatalf("the hotel's audit %v %v", first, err)
		}
		tok := first.GetNextPageToken()
		for what, other := range map[string]*partnersv1.ListAuditRequest{
			"the spa's audit":       {PartnerId: spa.id, PageToken: tok},
			"every partner's audit": {PageToken: tok},
			"a raw audit id":        {PartnerId: hotel.id, PageToken: first.GetEntries()[0].GetAuditId()},
		} {
			_, err := env.Admin.ListAudit(ctx(t), other)
			wantReason(t, "a token of the hotel's audit read as "+what, err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
		}
		next, err := env.Admin.ListAudit(ctx(t), &partnersv1.ListAuditRequest{PartnerId: hotel.id, PageSize: 1, PageToken: tok})
		if err != nil || len(next.GetEntries()) != 1 || next.GetEntries()[0].GetAuditId() == first.GetEntries()[0].GetAuditId() {
			t.Fatalf("the hotel's second audit page %v %v", next, err)
		}
	})
}
