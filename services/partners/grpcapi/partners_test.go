package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	accessapp "github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
	"github.com/fidelis-loyalty/fidelis/services/partners/partnerstest"
)

var keys atomic.Int64

func key() string { return fmt.Sprintf("pk-%d", keys.Add(1)) }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t testing.TB, err error, c codes.Code) {
	t.Helper()
	if got := status.Code(err); got != c {
		t.Fatalf("error %v, want %s", err, c)
	}
}

type partner struct {
	id, keyID, key string
}

func createPartner(t testing.TB, env *partnerstest.Env, programme, unit, rate string) partner {
	t.Helper()
	req := &partnersv1.CreatePartnerRequest{IdempotencyKey: key(), Name: "Partner " + unit,
		ProgrammeId: programme, EarnUnit: partnersv1.EarnUnit_EARN_UNIT_MILES, EarnRate: rate, Rounding: partnersv1.Rounding_ROUNDING_FLOOR,
		PricePerPoint: &typev1.Money{Amount: "0.008", CurrencyCode: "EUR"}, ValuePerPoint: &typev1.Money{Amount: "0.006", CurrencyCode: "EUR"}}
	if unit != "MILES" {
		req.EarnUnit, req.EarnCurrencyCode = partnersv1.EarnUnit_EARN_UNIT_CURRENCY, unit
	}
	r, err := env.Admin.CreatePartner(ctx(t), req)
	if err != nil {
		t.Fatalf("create partner: %v", err)
	}
	if !strings.HasPrefix(r.GetApiKey(), r.GetKeyId()+".") {
		t.Fatalf("key %q is not of key id %q", r.GetApiKey(), r.GetKeyId())
	}
	return partner{r.GetPartner().GetPartnerId(), r.GetKeyId(), r.GetApiKey()}
}

func enrolCard(t testing.TB, env *partnerstest.Env, programme string, consent bool) (memberID, card string) {
	t.Helper()
	card = "card-" + key()
	agreed := ledgerv1.ConsentState_CONSENT_STATE_WITHHELD
	if consent {
		agreed = ledgerv1.ConsentState_CONSENT_STATE_GRANTED
	}
	r, err := env.Client.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: programme,
		ExternalRef: card, PartnerMarketingConsent: agreed})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetMember().GetMemberId(), card
}

func link(t testing.TB, env *partnerstest.Env, p partner, card string) string {
	t.Helper()
	r, err := env.Partners.LinkMember(partnerstest.As(ctx(t), p.key), &partnersv1.LinkMemberRequest{IdempotencyKey: key(), CardNumber: card})
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	return r.GetMemberRef()
}

func partnerRows(t testing.TB, env *partnerstest.Env) map[string]int {
	t.Helper()
	counts := ledgertest.Counts(t, env.DB)
	for _, table := range []string{"partners_txns", "partners_links", "partners_offer_usage", "partners_offers", "partners_idempotency"} {
		var n int
		if err := env.DB.QueryRowContext(ctx(t), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[table] = n
	}
	return counts
}

// failures sums the failed authentications counted.
func failures(t testing.TB, env *partnerstest.Env) int64 {
	t.Helper()
	env.Access.Flush(t)
	fs, _, err := env.Access.App.Failures(ctx(t), accessapp.FailureFilter{}, "", 500)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range fs {
		n += f.Count
	}
	return n
}

// shortMethod is "PartnerService/Earn" of
// "fidelis.partners.v1.PartnerService/Earn".
func shortMethod(m string) string {
	return m[strings.LastIndex(m[:strings.Index(m, "/")], ".")+1:]
}

func sameRows(t testing.TB, before, after map[string]int) {
	t.Helper()
	refusedOnly(t, before, after, 0)
}

// refusedOnly asserts that nothing was written but the records of n
// stored refusals (a refusal the idempotency rule stores, under its key).
func refusedOnly(t testing.TB, before, after map[string]int, n int) {
	t.Helper()
	for table, was := range before {
		want := was
		if table == "partners_idempotency" {
			want += n
		}
		if after[table] != want {
			t.Fatalf("%s: %d rows before, %d after, want %d", table, was, after[table], want)
		}
	}
}

// Partners authenticate with their key and reach only their own programme
// and data: anything else is PermissionDenied and writes nothing; every
// mutation and every denied call is audited with its decision, and failed
// authentications are counted per address.
func TestPartnerAuthenticationAndIsolation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		airline := createPartner(t, env, "test", "MILES", "0.1")
		hotel := createPartner(t, env, "tiered", "EUR", "2")
		_, card := enrolCard(t, env, "test", true)
		ref := link(t, env, airline, card)
		if ref == "" || len(ref) < 20 || ref == card {
			t.Fatalf("member ref %q", ref)
		}
		if again := link(t, env, airline, card); again != ref {
			t.Fatalf("relinking gave %q, want the same ref %q", again, ref)
		}

		earn := &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: miles("500")}
		for name, c := range map[string]context.Context{
			"no key":        ctx(t),
			"garbage key":   partnerstest.As(ctx(t), "nope"),
			"wrong secret":  partnerstest.As(ctx(t), airline.keyID+".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
			"another's key": partnerstest.As(ctx(t), airline.keyID+hotel.key[len(hotel.keyID):]),
		} {
			if _, err := env.Partners.Earn(c, earn); status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s: %v, want Unauthenticated", name, err)
			}
		}

		before := partnerRows(t, env)
		// Crediting another programme.
		other := proto.Clone(earn).(*partnersv1.EarnRequest)
		other.ProgrammeId = "tiered"
		_, err := env.Partners.Earn(partnerstest.As(ctx(t), airline.key), other)
		wantCode(t, err, codes.PermissionDenied)
		_, err = env.Partners.LinkMember(partnerstest.As(ctx(t), airline.key), &partnersv1.LinkMemberRequest{IdempotencyKey: key(),
			CardNumber: card, ProgrammeId: "tiered"})
		wantCode(t, err, codes.PermissionDenied)
		// Using another partner's member reference, reading its statement.
		_, err = env.Partners.Earn(partnerstest.As(ctx(t), hotel.key), &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref,
			Amount: eur("10")})
		wantCode(t, err, codes.PermissionDenied)
		_, err = env.Partners.GetMemberBalance(partnerstest.As(ctx(t), hotel.key), &partnersv1.GetMemberBalanceRequest{MemberRef: ref})
		wantCode(t, err, codes.PermissionDenied)
		_, err = env.Partners.GetStatement(partnerstest.As(ctx(t), hotel.key), &partnersv1.GetStatementRequest{PartnerId: airline.id,
			PeriodStart: timestamppb.New(time.Unix(0, 0)), PeriodEnd: timestamppb.New(time.Now())})
		wantCode(t, err, codes.PermissionDenied)
		// A member of another programme is not found by card.
		_, err = env.Partners.LinkMember(partnerstest.As(ctx(t), hotel.key), &partnersv1.LinkMemberRequest{IdempotencyKey: key(), CardNumber: card})
		wantCode(t, err, codes.NotFound)
		// Four business refusals (three denied, one not found) are stored
		// under their keys; reading calls store nothing.
		refusedOnly(t, before, partnerRows(t, env), 4)

		// A rotated key replaces the old one.
		rot, err := env.Admin.RotatePartnerKey(ctx(t), &partnersv1.RotatePartnerKeyRequest{IdempotencyKey: key(), PartnerId: airline.id})
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.Partners.GetMemberBalance(partnerstest.As(ctx(t), airline.key), &partnersv1.GetMemberBalanceRequest{MemberRef: ref})
		wantCode(t, err, codes.Unauthenticated)
		if _, err := env.Partners.GetMemberBalance(partnerstest.As(ctx(t), rot.GetApiKey()), &partnersv1.GetMemberBalanceRequest{MemberRef: ref}); err != nil {
			t.Fatal(err)
		}

		env.Access.Flush(t)
		audit, err := env.Admin.ListAudit(ctx(t), &partnersv1.ListAuditRequest{PartnerId: hotel.id})
		if err != nil {
			t.Fatal(err)
		}
		decisions := map[string]int{}
		for _, e := range audit.GetEntries() {
			if e.GetPrincipal() != "partner:"+hotel.id {
				t.Fatalf("hotel's audit holds %v", e)
			}
			decisions[shortMethod(e.GetMethod())+":"+e.GetDecision().String()] += int(e.GetCalls())
		}
		if decisions["PartnerService/Earn:AUDIT_DECISION_DENIED"] != 1 || decisions["PartnerService/GetStatement:AUDIT_DECISION_DENIED"] != 1 ||
			decisions["PartnerService/GetMemberBalance:AUDIT_DECISION_DENIED"] != 1 || decisions["PartnerService/LinkMember:AUDIT_DECISION_REFUSED"] != 1 {
			t.Fatalf("hotel's audit %v", decisions)
		}
		all, err := env.Admin.ListAudit(ctx(t), &partnersv1.ListAuditRequest{PageSize: 2})
		if err != nil || len(all.GetEntries()) != 2 || all.GetNextPageToken() == "" {
			t.Fatalf("audit page %v %v", all, err)
		}
		next, err := env.Admin.ListAudit(ctx(t), &partnersv1.ListAuditRequest{PageSize: 2, PageToken: all.GetNextPageToken()})
		if err != nil || len(next.GetEntries()) == 0 || next.GetEntries()[0].GetAuditId() >= all.GetEntries()[1].GetAuditId() {
			t.Fatalf("second audit page %v %v", next, err)
		}
		// Four bad keys, and the key rotated out: counted, never a row each.
		if got := failures(t, env); got != 5 {
			t.Fatalf("%d failed authentications counted, want 5", got)
		}
	})
}

// Partner earns are funded by the partner at its rate, burns go to it, both
// idempotent per partner key, and the statement (and its BI view) settles
// them at the agreed prices.
func TestPartnerEarnBurnAndSettlement(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		airline := createPartner(t, env, "test", "MILES", "0.1")
		member, card := enrolCard(t, env, "test", false)
		ref := link(t, env, airline, card)
		as := partnerstest.As(ctx(t), airline.key)

		earn := &partnersv1.EarnRequest{IdempotencyKey: "flight-AF123-seat-4C", MemberRef: ref, Amount: miles("1234.5"), Reference: "AF123"}
		r, err := env.Partners.Earn(as, earn)
		if err != nil {
			t.Fatal(err)
		}
		if r.GetPoints() != 123 || r.GetBonusPoints() != 0 || r.GetCost().GetAmount() != "0.984" {
			t.Fatalf("earn %v", r)
		}
		if again, err := env.Partners.Earn(as, earn); err != nil || !proto.Equal(again, r) {
			t.Fatalf("retry %v %v", again, err)
		}
		earn.Amount = miles("1300")
		_, err = env.Partners.Earn(as, earn)
		wantCode(t, err, codes.AlreadyExists)
		_, err = env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("5")})
		wantCode(t, err, codes.InvalidArgument)
		_, err = env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: miles("5")})
		wantCode(t, err, codes.FailedPrecondition) // 0.5 points, rounded down: nothing to credit

		b, err := env.Partners.Burn(as, &partnersv1.BurnRequest{IdempotencyKey: "hotel-night", MemberRef: ref, Points: 50})
		if err != nil || b.GetValue().GetAmount() != "0.3" {
			t.Fatalf("burn %v %v", b, err)
		}
		tooMuch := &partnersv1.BurnRequest{IdempotencyKey: key(), MemberRef: ref, Points: 74}
		_, err = env.Partners.Burn(as, tooMuch)
		wantCode(t, err, codes.FailedPrecondition)
		// The refusal is stored: its key replays it byte for byte, and
		// refuses another request.
		_, again := env.Partners.Burn(as, tooMuch)
		if !proto.Equal(status.Convert(again).Proto(), status.Convert(err).Proto()) {
			t.Fatalf("replayed refusal %v, first %v", again, err)
		}
		tooMuch.Points = 73
		_, err = env.Partners.Burn(as, tooMuch)
		wantCode(t, err, codes.AlreadyExists)
		if want := fmt.Sprintf("idempotency key %q was already used for a different request", tooMuch.GetIdempotencyKey()); status.Convert(err).Message() != want {
			t.Fatalf("reused key: %q, want %q", status.Convert(err).Message(), want)
		}
		bal, err := env.Partners.GetMemberBalance(as, &partnersv1.GetMemberBalanceRequest{MemberRef: ref})
		if err != nil || bal.GetAvailable() != 73 {
			t.Fatalf("balance %v %v", bal, err)
		}
		// On the ledger the points came from, and went to, the partner's account.
		entries, err := env.Client.ListEntries(ctx(t), &ledgerv1.ListEntriesRequest{MemberId: member})
		if err != nil || len(entries.GetEntries()) != 2 {
			t.Fatalf("entries %v %v", entries, err)
		}
		for _, e := range entries.GetEntries() {
			found := false
			for _, p := range e.GetPostings() {
				found = found || p.GetAccount() == "partner:"+airline.id
			}
			if !found || e.GetPartnerId() != airline.id || e.GetChannel() != typev1.Channel_CHANNEL_PARTNER {
				t.Fatalf("entry %v does not touch the partner's account", e)
			}
		}
		env.Check(t)

		st, err := env.Partners.GetStatement(as, &partnersv1.GetStatementRequest{
			PeriodStart: timestamppb.New(env.Clock.Now().Add(-time.Hour)), PeriodEnd: timestamppb.New(env.Clock.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		s := st.GetStatement()
		if s.GetPointsIssued() != 123 || s.GetPointsBurned() != 50 || s.GetOwedByPartner().GetAmount() != "0.984" ||
			s.GetOwedToPartner().GetAmount() != "0.3" || s.GetNet().GetAmount() != "0.684" || s.GetNet().GetCurrencyCode() != "EUR" ||
			s.GetEarnCount() != 1 || s.GetBurnCount() != 1 {
			t.Fatalf("statement %v", s)
		}
		var month string
		var issued, burned, owedBy, owedTo int64
		if err := db.QueryRowContext(ctx(t), `SELECT month, points_issued, points_burned, owed_by_partner_micros, owed_to_partner_micros
			FROM partner_settlement_monthly WHERE partner_id = $1`,
			airline.id).Scan(&month, &issued, &burned, &owedBy, &owedTo); err != nil {
			t.Fatal(err)
		}
		if month != env.Clock.Now().UTC().Format("2006-01") || issued != 123 || burned != 50 || owedBy != 984_000 || owedTo != 300_000 {
			t.Fatalf("settlement view %s %d %d %d %d", month, issued, burned, owedBy, owedTo)
		}
	})
}

// Offers target by tier and consent, cap per member and period, keep a
// minimum interval, and never overspend their budget, even concurrently;
// an offer is applied only together with its earn.
func TestPartnerOffers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		hotel := createPartner(t, env, "tiered", "EUR", "1")
		as := partnerstest.As(ctx(t), hotel.key)
		offer := func(terms *partnersv1.OfferTerms) string {
			t.Helper()
			r, err := env.Admin.CreateOffer(ctx(t), &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: hotel.id, Terms: terms})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetOffer().GetOfferId()
		}
		silverDouble := offer(&partnersv1.OfferTerms{Name: "Double for silver",
			Bonus: &partnersv1.OfferTerms_Multiplier{Multiplier: &partnersv1.MultiplierBonus{Factor: "2"}}, Tiers: []string{"silver"}, BudgetPoints: 100000})
		welcome := offer(&partnersv1.OfferTerms{Name: "Welcome bonus", Bonus: fixedBonus(100),
			MemberCap: &partnersv1.MemberCap{Times: 1, Period: partnersv1.CapPeriod_CAP_PERIOD_MONTH}, MinInterval: durationpb.New(40 * 24 * time.Hour),
			BudgetPoints: 10000})
		other := createPartner(t, env, "test", "EUR", "1")
		if _, err := env.Admin.CreateOffer(ctx(t), &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: other.id,
			Terms: &partnersv1.OfferTerms{Name: "Elsewhere", Bonus: fixedBonus(5), BudgetPoints: 50}}); err != nil {
			t.Fatal(err)
		}
		all, err := env.Admin.ListProgrammeOffers(ctx(t), &partnersv1.ListProgrammeOffersRequest{ProgrammeId: "tiered"})
		if err != nil || len(all.GetOffers()) != 2 || all.GetOffers()[0].GetOfferId() != silverDouble || all.GetOffers()[1].GetOfferId() != welcome {
			t.Fatalf("programme offers %v %v", all, err)
		}

		_, noConsentCard := enrolCard(t, env, "tiered", false)
		quiet := link(t, env, hotel, noConsentCard)
		lo, err := env.Partners.ListOffers(as, &partnersv1.ListOffersRequest{MemberRef: quiet})
		if err != nil || lo.GetConsent() || len(lo.GetOffers()) != 0 {
			t.Fatalf("offers without consent %v %v", lo, err)
		}
		before := partnerRows(t, env)
		_, err = env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: quiet, Amount: eur("50"), OfferId: welcome})
		wantCode(t, err, codes.FailedPrecondition)
		refusedOnly(t, before, partnerRows(t, env), 1) // the refusal, under its key

		_, card := enrolCard(t, env, "tiered", true)
		ref := link(t, env, hotel, card)
		lo, err = env.Partners.ListOffers(as, &partnersv1.ListOffersRequest{MemberRef: ref})
		if err != nil || !lo.GetConsent() || len(lo.GetOffers()) != 1 || lo.GetOffers()[0].GetOfferId() != welcome {
			t.Fatalf("offers for a blue member %v %v", lo, err)
		}
		_, err = env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("50"), OfferId: silverDouble})
		wantCode(t, err, codes.FailedPrecondition)
		r, err := env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("50"), OfferId: welcome})
		if err != nil || r.GetPoints() != 50 || r.GetBonusPoints() != 100 || r.GetCost().GetAmount() != "1.2" {
			t.Fatalf("earn with welcome bonus %v %v", r, err)
		}
		_, err = env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("50"), OfferId: welcome})
		wantCode(t, err, codes.FailedPrecondition) // cap: once a month
		env.Clock.Advance(35 * 24 * time.Hour)
		_, err = env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("50"), OfferId: welcome})
		wantCode(t, err, codes.FailedPrecondition) // a new month, but within the 40-day interval

		// The ledger refuses the earn (too many points): the bonus is given
		// back to the budget.
		budget := offer(&partnersv1.OfferTerms{Name: "Flash", Bonus: fixedBonus(100), BudgetPoints: 300})
		_, err = env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("2000000000"), OfferId: budget})
		if status.Code(err) == codes.OK {
			t.Fatal("an earn above the ledger's limit passed")
		}

		// Twenty members at once on a 300-point budget of 100-point bonuses:
		// exactly three get it.
		refs := make([]string, 20)
		for i := range refs {
			_, c := enrolCard(t, env, "tiered", true)
			refs[i] = link(t, env, hotel, c)
		}
		var wg sync.WaitGroup
		var granted atomic.Int64
		for _, m := range refs {
			wg.Go(func() {
				r, err := env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: m, Amount: eur("10"), OfferId: budget})
				switch status.Code(err) {
				case codes.OK:
					granted.Add(r.GetBonusPoints())
				case codes.FailedPrecondition:
				default:
					t.Errorf("earn: %v", err)
				}
			})
		}
		wg.Wait()
		if granted.Load() != 300 {
			t.Fatalf("%d bonus points granted on a 300 budget", granted.Load())
		}
		var spent int64
		if err := db.QueryRowContext(ctx(t), `SELECT spent_points FROM partners_offers WHERE offer_id = $1`, budget).Scan(&spent); err != nil || spent != 300 {
			t.Fatalf("budget spent %d %v", spent, err)
		}
		env.Check(t)
	})
}

// A retry of an earn sent without occurred_at, a while later, is the same
// request: it gets the identical reply and writes nothing more.
func TestPartnerEarnRetryWithoutOccurredAt(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		airline := createPartner(t, env, "test", "MILES", "0.1")
		_, card := enrolCard(t, env, "test", false)
		ref := link(t, env, airline, card)
		as := partnerstest.As(ctx(t), airline.key)
		earn := &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: miles("1000"), Reference: "AF456"}
		first, err := env.Partners.Earn(as, earn)
		if err != nil {
			t.Fatal(err)
		}
		before := partnerRows(t, env)
		for _, d := range []time.Duration{time.Second, time.Hour} {
			env.Clock.Advance(d)
			again, err := env.Partners.Earn(as, earn)
			if err != nil || !proto.Equal(again, first) {
				t.Fatalf("retry %s later: %v %v, want %v", d, again, err, first)
			}
		}
		sameRows(t, before, partnerRows(t, env))
	})
}

// The minimum interval of an offer counts from the member's last offer of
// the same partner, whichever it was; another partner's offers do not
// count, and per-offer caps stay per offer.
func TestPartnerOfferIntervalAcrossOffers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		hotel := createPartner(t, env, "tiered", "EUR", "1")
		spa := createPartner(t, env, "tiered", "EUR", "1")
		offer := func(p partner, name string) string {
			t.Helper()
			r, err := env.Admin.CreateOffer(ctx(t), &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: p.id,
				Terms: &partnersv1.OfferTerms{Name: name, Bonus: fixedBonus(10),
					MinInterval: durationpb.New(24 * time.Hour), BudgetPoints: 1000}})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetOffer().GetOfferId()
		}
		breakfast, parking, massage := offer(hotel, "Breakfast"), offer(hotel, "Parking"), offer(spa, "Massage")
		_, card := enrolCard(t, env, "tiered", true)
		hotelRef, spaRef := link(t, env, hotel, card), link(t, env, spa, card)
		asHotel, asSpa := partnerstest.As(ctx(t), hotel.key), partnerstest.As(ctx(t), spa.key)
		eligible := func() []string {
			t.Helper()
			r, err := env.Partners.ListOffers(asHotel, &partnersv1.ListOffersRequest{MemberRef: hotelRef})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range r.GetOffers() {
				ids = append(ids, o.GetOfferId())
			}
			return ids
		}
		earn := func(c context.Context, ref, offerID string) error {
			r, err := env.Partners.Earn(c, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: eur("20"), OfferId: offerID})
			if err == nil && r.GetBonusPoints() != 10 {
				t.Fatalf("earn with %s: bonus %d", offerID, r.GetBonusPoints())
			}
			return err
		}

		if got := eligible(); len(got) != 2 {
			t.Fatalf("eligible before any use: %v", got)
		}
		if err := earn(asHotel, hotelRef, breakfast); err != nil {
			t.Fatal(err)
		}
		if got := eligible(); len(got) != 0 {
			t.Fatalf("eligible right after the breakfast offer: %v", got)
		}
		before := partnerRows(t, env)
		wantCode(t, earn(asHotel, hotelRef, parking), codes.FailedPrecondition)
		refusedOnly(t, before, partnerRows(t, env), 1) // the refusal, under its key
		if err := earn(asSpa, spaRef, massage); err != nil {
			t.Fatalf("another partner's offer: %v", err)
		}

		env.Clock.Advance(24*time.Hour - time.Second)
		wantCode(t, earn(asHotel, hotelRef, parking), codes.FailedPrecondition)
		env.Clock.Advance(time.Second)
		if got := eligible(); len(got) != 2 {
			t.Fatalf("eligible once the interval is over: %v", got)
		}
		if err := earn(asHotel, hotelRef, parking); err != nil {
			t.Fatal(err)
		}
		env.Check(t)
	})
}

// Statements and the BI view count transactions in the period they were
// posted: an earn backdated into a past period lands in the current one,
// and the past period's statement stays what it was when issued.
func TestPartnerStatementOfAPastPeriodDoesNotChange(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		airline := createPartner(t, env, "test", "MILES", "0.1")
		_, card := enrolCard(t, env, "test", false)
		ref := link(t, env, airline, card)
		as := partnerstest.As(ctx(t), airline.key)
		now := env.Clock.Now().UTC()
		lastMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		thisMonth := lastMonth.AddDate(0, 1, 0)
		statement := func(from, to time.Time) *partnersv1.Statement {
			t.Helper()
			own, err := env.Partners.GetStatement(as, &partnersv1.GetStatementRequest{PeriodStart: timestamppb.New(from), PeriodEnd: timestamppb.New(to)})
			if err != nil {
				t.Fatal(err)
			}
			admin, err := env.Admin.GetPartnerStatement(ctx(t), &partnersv1.GetPartnerStatementRequest{PartnerId: airline.id,
				PeriodStart: timestamppb.New(from), PeriodEnd: timestamppb.New(to)})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(own.GetStatement(), admin.GetStatement()) {
				t.Fatalf("statements differ: partner's %v, operators' %v", own, admin)
			}
			return own.GetStatement()
		}

		// An earn posted this month; the month ends and its statement is issued.
		if _, err := env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: miles("1000")}); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(thisMonth.Add(2 * time.Hour).Sub(now))
		issued := statement(lastMonth, thisMonth)
		if issued.GetEarnCount() != 1 || issued.GetPointsIssued() != 100 {
			t.Fatalf("last month's statement %v", issued)
		}

		// An earn said to have occurred last month, posted now.
		if _, err := env.Partners.Earn(as, &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: miles("500"),
			OccurredAt: timestamppb.New(lastMonth.Add(20 * 24 * time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if again := statement(lastMonth, thisMonth); !proto.Equal(again, issued) {
			t.Fatalf("last month's statement changed: %v, issued %v", again, issued)
		}
		if cur := statement(thisMonth, thisMonth.AddDate(0, 1, 0)); cur.GetEarnCount() != 1 || cur.GetPointsIssued() != 50 {
			t.Fatalf("this month's statement %v", cur)
		}
		rows, err := db.QueryContext(ctx(t), `SELECT month, earn_count, points_issued FROM partner_settlement_monthly
			WHERE partner_id = $1 ORDER BY month`, airline.id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var month string
			var earns, points int64
			if err := rows.Scan(&month, &earns, &points); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s:%d:%d", month, earns, points))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := []string{lastMonth.Format("2006-01") + ":1:100", thisMonth.Format("2006-01") + ":1:50"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("settlement view %v, want %v", got, want)
		}
	})
}
