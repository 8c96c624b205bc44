package grpcapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	gdate "google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/eligibilitytest"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

var keySeq atomic.Int64

func key() string { return fmt.Sprintf("k-%d", keySeq.Add(1)) }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func date(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// seed gives programme "tiered" (the clock is at 2026-03-10) data that
// decides four questions: 3 purchases by 3 members in the last 12 months,
// 7 anonymous sales (30% identified: no), 1 purchase per buyer a year
// (low recurrence: yes), 4 members (small: yes), and one targeted reward
// and one targeted partner offer (few targeted actions: yes), next to an
// untargeted reward and a reward targeted only at the lowest tier.
func seed(t *testing.T, env *eligibilitytest.Env) {
	t.Helper()
	c := env.Client
	buy := func(m string, at time.Time) {
		if _, err := c.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
			Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "20", CurrencyCode: "EUR"}}, OccurredAt: timestamppb.New(at)}); err != nil {
			t.Fatal(err)
		}
	}
	var members []string
	for i := range 4 {
		r, err := c.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "tiered",
			ExternalRef: fmt.Sprintf("card-%d", i), EnrolledAt: timestamppb.New(date("2024-12-01"))})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, r.GetMember().GetMemberId())
	}
	buy(members[0], date("2025-01-10")) // before the window: the programme's first purchase
	buy(members[0], date("2025-06-01"))
	buy(members[1], date("2025-09-01"))
	buy(members[2], date("2026-02-20"))
	if _, err := c.ReportAnonymousSales(ctx(t), &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "tiered", StoreId: "paris-01",
		BusinessDay: &gdate.Date{Year: 2026, Month: 3, Day: 1}, Transactions: 7}); err != nil {
		t.Fatal(err)
	}
	reward := func(name, minTier string) {
		if _, err := env.Rewards.Rewards.CreateReward(ctx(t), &rewardsv1.CreateRewardRequest{IdempotencyKey: key(), ProgrammeId: "tiered",
			Terms: &rewardsv1.RewardTerms{Name: name, PointsCost: 100, Benefit: &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_FreeProductSku{FreeProductSku: "SKU-1"}},
				VoucherValidity: durationpb.New(24 * time.Hour), StockTotal: 10, MinTier: minTier}}); err != nil {
			t.Fatal(err)
		}
	}
	reward("Coffee for everyone", "")
	reward("Coffee for blue and up", "blue")
	reward("Lounge for silver", "silver")
	p, err := env.Partners.Admin.CreatePartner(ctx(t), &partnersv1.CreatePartnerRequest{IdempotencyKey: key(), Name: "Hotel",
		ProgrammeId: "tiered", EarnUnit: partnersv1.EarnUnit_EARN_UNIT_CURRENCY, EarnCurrencyCode: "EUR", EarnRate: "1",
		Rounding:      partnersv1.Rounding_ROUNDING_FLOOR,
		PricePerPoint: &typev1.Money{Amount: "0.008", CurrencyCode: "EUR"}, ValuePerPoint: &typev1.Money{Amount: "0.006", CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Partners.Admin.CreateOffer(ctx(t), &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: p.GetPartner().GetPartnerId(),
		Terms: &partnersv1.OfferTerms{Name: "Gold nights", Bonus: &partnersv1.OfferTerms_FixedBonus{FixedBonus: &partnersv1.FixedBonus{Points: 50}},
			Tiers: []string{"gold"}, BudgetPoints: 5000}}); err != nil {
		t.Fatal(err)
	}
}

func violations(t *testing.T, err error) map[string]string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	out := map[string]string{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = v.GetDescription()
			}
		}
	}
	return out
}

const (
	yes = eligibilityv1.Answer_ANSWER_YES
	no  = eligibilityv1.Answer_ANSWER_NO
)

// The ledger, rewards and partner offers answer what they can; the
// caller's answers override; what nothing answers is named.
func TestSelfTestFromProgrammeData(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := eligibilitytest.Start(t, db)
		seed(t, env)
		e := env.Eligibility

		q, err := e.GetQuestions(ctx(t), &eligibilityv1.GetQuestionsRequest{ProgrammeId: "tiered"})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			answer eligibilityv1.Answer
			figure string
		}{{no, "0.3"}, {yes, "1"}, {yes, "4"}, {eligibilityv1.Answer_ANSWER_UNSPECIFIED, ""}, {yes, "2"}}
		if len(q.GetQuestions()) != 5 || !q.GetWindowEnd().AsTime().Equal(env.Clock.Now()) {
			t.Fatalf("questions %v", q)
		}
		for i, qi := range q.GetQuestions() {
			ev := qi.GetEvidence()
			if ev.GetAnswer() != want[i].answer || ev.GetFigure() != want[i].figure || ev.GetDetail() == "" || qi.GetText() == "" {
				t.Errorf("question %d evidence %v, want %v", i+1, ev, want[i])
			}
		}

		r, err := e.SelfTest(ctx(t), &eligibilityv1.SelfTestRequest{ProgrammeId: "tiered",
			Answers: &eligibilityv1.Answers{WeaklyContested: no}})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetVerdict() != eligibilityv1.Verdict_VERDICT_RETENTION_WITHOUT_CARD || r.GetYes() != 3 || r.GetNo() != 2 || len(r.GetFindings()) != 5 {
			t.Fatalf("self-test %v", r)
		}
		sources := []eligibilityv1.Source{eligibilityv1.Source_SOURCE_PROGRAMME_DATA, eligibilityv1.Source_SOURCE_PROGRAMME_DATA,
			eligibilityv1.Source_SOURCE_PROGRAMME_DATA, eligibilityv1.Source_SOURCE_ANSWER, eligibilityv1.Source_SOURCE_PROGRAMME_DATA}
		for i, f := range r.GetFindings() {
			if f.GetSource() != sources[i] || f.GetReason() == "" || f.GetImplication() == "" {
				t.Errorf("finding %d: %v", i+1, f)
			}
		}

		// The caller overrides the data; a figure decides too.
		r, err = e.SelfTest(ctx(t), &eligibilityv1.SelfTestRequest{ProgrammeId: "tiered", Answers: &eligibilityv1.Answers{
			IdentifiesAllCustomers: yes, WeaklyContested: no, PurchasesPerCustomerYear: "6", Contacts: new(int64(250_000))}})
		if err != nil {
			t.Fatal(err)
		}
		f := r.GetFindings()
		if f[0].GetAnswer() != yes || f[0].GetSource() != eligibilityv1.Source_SOURCE_ANSWER || !strings.Contains(f[0].GetReason(), "data says no") ||
			f[1].GetAnswer() != no || f[1].GetSource() != eligibilityv1.Source_SOURCE_FIGURE || f[2].GetAnswer() != no ||
			r.GetVerdict() != eligibilityv1.Verdict_VERDICT_LOYALTY_PROGRAMME || r.GetYes() != 2 {
			t.Fatalf("overridden %v", r)
		}

		// Without a programme, everything must be answered.
		_, err = e.SelfTest(ctx(t), &eligibilityv1.SelfTestRequest{})
		if vs := violations(t, err); len(vs) != 5 {
			t.Fatalf("nothing answered: %v", vs)
		}
		_, err = e.SelfTest(ctx(t), &eligibilityv1.SelfTestRequest{ProgrammeId: "tiered", Answers: &eligibilityv1.Answers{
			LowRecurrence: yes, PurchasesPerCustomerYear: "5"}})
		vs := violations(t, err)
		if len(vs) != 2 || !strings.Contains(vs["answers.low_recurrence"], "you answered yes") || !strings.HasPrefix(vs["answers.weakly_contested"], "missing") {
			t.Fatalf("contradiction and missing: %v", vs)
		}
		_, err = e.SelfTest(ctx(t), &eligibilityv1.SelfTestRequest{Answers: &eligibilityv1.Answers{IdentifiedShare: "a lot"}})
		if vs := violations(t, err); vs["answers.identified_share"] == "" {
			t.Fatalf("bad figure: %v", vs)
		}
		_, err = e.SelfTest(ctx(t), &eligibilityv1.SelfTestRequest{ProgrammeId: "nope", Answers: &eligibilityv1.Answers{WeaklyContested: no}})
		if status.Code(err) != codes.NotFound || reason(err) != "PROGRAMME_NOT_FOUND" {
			t.Fatalf("unknown programme: %v (reason %q)", err, reason(err))
		}
		_, err = e.GetQuestions(ctx(t), &eligibilityv1.GetQuestionsRequest{ProgrammeId: "nope"})
		if status.Code(err) != codes.NotFound || reason(err) != "PROGRAMME_NOT_FOUND" {
			t.Fatalf("questions of an unknown programme: %v (reason %q)", err, reason(err))
		}
		// The schema refuses a window that ends in the future.
		_, err = e.SelfTest(ctx(t), &eligibilityv1.SelfTestRequest{AsOf: timestamppb.New(time.Now().Add(24 * time.Hour)),
			Answers: &eligibilityv1.Answers{WeaklyContested: no}})
		if vs := violations(t, err); !strings.Contains(vs["as_of"], "future") || reason(err) != "INVALID_ARGUMENT" {
			t.Fatalf("as_of tomorrow: %v", vs)
		}
	})
}

// reason is the ErrorInfo reason of a refusal ("" without one).
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == "fidelis-loyalty.github.io" {
			return info.GetReason()
		}
	}
	return ""
}

// post sends a JSON body with a key ("" for none).
func post(t *testing.T, key, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(withKey(req, key))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func withKey(req *http.Request, key string) *http.Request {
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return req
}

// get reads a URL with a key ("" for none).
func get(t *testing.T, key, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(withKey(req, key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The same over HTTP, as JSON.
func TestSelfTestOverHTTP(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := eligibilitytest.Start(t, db)
		seed(t, env)
		url := env.URL + "/api/v1/eligibility/self-test"

		code, out := post(t, env.Key, url, `{"programme_id": "tiered", "answers": {"weakly_contested": "ANSWER_NO"}}`)
		if code != http.StatusOK || out["verdict"] != "VERDICT_RETENTION_WITHOUT_CARD" || out["yes"] != 3.0 {
			t.Fatalf("%d %v", code, out)
		}
		code, out = post(t, env.Key, url, `{"answers": {"weaklyContested": "ANSWER_NO", "contacts": "-3"}}`)
		if code != http.StatusBadRequest || out["code"] != "INVALID_ARGUMENT" {
			t.Fatalf("%d %v", code, out)
		}
		fields := map[string]bool{}
		for _, v := range out["violations"].([]any) {
			fields[v.(map[string]any)["field"].(string)] = true
		}
		if !fields["answers.contacts"] {
			t.Fatalf("violations %v", out["violations"])
		}
		code, out = post(t, env.Key, url, `{"answers": {"weakly_contested": "ANSWER_NO"}}`)
		if code != http.StatusBadRequest || len(out["violations"].([]any)) != 4 {
			t.Fatalf("%d %v", code, out)
		}
		code, out = post(t, env.Key, url, `{"programmeId": "nope", "answers": {"weaklyContested": "ANSWER_NO"}}`)
		if code != http.StatusNotFound || out["code"] != "NOT_FOUND" {
			t.Fatalf("%d %v", code, out)
		}
		code, out = post(t, env.Key, url, `{"answers": {"weakly_contested": "MAYBE"}}`)
		if vs := httpViolations(t, code, out); len(vs) != 5 || vs[3] != "answers.weakly_contested: must be one of ANSWER_YES, ANSWER_NO" {
			t.Fatalf("undefined answer: %d %v", code, out)
		}

		resp := get(t, env.Key, env.URL+"/api/v1/eligibility/questions?programme_id=tiered")
		var q struct {
			Questions []struct {
				Question string
				Evidence struct{ Answer, Figure string }
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&q); err != nil || resp.StatusCode != http.StatusOK || len(q.Questions) != 5 ||
			q.Questions[0].Evidence.Figure != "0.3" {
			t.Fatalf("questions %d %+v %v", resp.StatusCode, q, err)
		}
		// The page itself holds no data; everything it reads needs a key.
		if page := get(t, "", env.URL+"/eligibility"); page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("page %v", page)
		}
		if r := get(t, "", env.URL+"/api/v1/eligibility/questions"); r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("questions without a key: %v", r)
		}
		if code, out := post(t, "", url, `{"programme_id": 5}`); code != http.StatusUnauthorized || out["code"] != "UNAUTHENTICATED" {
			t.Fatalf("self-test without a key, with a bad body: %d %v", code, out)
		}
	})
}

// httpViolations are an HTTP error's violations as "field: description",
// in order; it fails unless the reply is a 400 INVALID_ARGUMENT whose
// message lists them too.
func httpViolations(t *testing.T, code int, out map[string]any) []string {
	t.Helper()
	if code != http.StatusBadRequest || out["code"] != "INVALID_ARGUMENT" {
		t.Fatalf("want 400 INVALID_ARGUMENT, got %d %v", code, out)
	}
	raw, _ := out["violations"].([]any)
	var vs []string
	for _, v := range raw {
		m := v.(map[string]any)
		vs = append(vs, m["field"].(string)+": "+m["description"].(string))
	}
	if strings.Join(vs, "; ") != out["message"] {
		t.Fatalf("message %q does not list the violations %q", out["message"], vs)
	}
	return vs
}

// One reply names every problem, each on its field and in words: a figure
// that is not a number, out of range or not whole, an undefined answer and
// the questions left open, over gRPC and over JSON, where a value that does
// not even read as its type ("contacts": "12.5") is named the same way.
func TestEveryProblemInOneReply(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := eligibilitytest.Start(t, db)
		const (
			share    = "answers.identified_share: must be a share between 0 and 1, like 0.875 for 87.5%"
			contacts = "answers.contacts: must be a whole number of customer contacts, 0 or more, like 12500"
			actions  = "answers.targeted_actions_per_year: must be a whole number of actions in the last 12 months, 0 or more, like 6"
			missing  = ": missing: answer yes or no"
		)
		_, err := env.Eligibility.SelfTest(ctx(t), &eligibilityv1.SelfTestRequest{Answers: &eligibilityv1.Answers{
			IdentifiedShare: "abc", PurchasesPerCustomerYear: "2,5", Contacts: new(int64(-3)), WeaklyContested: eligibilityv1.Answer(7)}})
		vs := violations(t, err)
		want := map[string]string{
			"answers.identified_share":            strings.TrimPrefix(share, "answers.identified_share: "),
			"answers.purchases_per_customer_year": "must be a number of purchases per customer per year, 0 or more, like 2.5",
			"answers.contacts":                    strings.TrimPrefix(contacts, "answers.contacts: "),
			"answers.weakly_contested":            "must be yes or no (ANSWER_YES or ANSWER_NO), or left out",
			"answers.few_targeted_actions":        "missing: answer yes or no, or give answers.targeted_actions_per_year (targeted, personalised actions in the last 12 months)",
		}
		if len(vs) != len(want) {
			t.Fatalf("gRPC: %v", vs)
		}
		for f, d := range want {
			if vs[f] != d {
				t.Errorf("gRPC %s: %q, want %q", f, vs[f], d)
			}
		}

		url := env.URL + "/api/v1/eligibility/self-test"
		for _, c := range []struct {
			name, body string
			want       []string
		}{
			{"bad share", `{"answers": {"identified_share": "abc"}}`, []string{share,
				"answers.low_recurrence" + missing, "answers.small_portfolio" + missing, "answers.weakly_contested" + missing,
				"answers.few_targeted_actions" + missing}},
			{"fractional contacts as a string", `{"answers": {"identifiedShare": "1", "contacts": "12.5", "weaklyContested": "ANSWER_NO"}}`,
				[]string{"answers.low_recurrence" + missing, contacts, "answers.few_targeted_actions" + missing}},
			{"fractional counts as numbers, an undefined answer", `{"answers": {"identifies_all_customers": "ANSWER_NO", "low_recurrence": "ANSWER_NO",
				"small_portfolio": "ANSWER_YES", "contacts": 12.5, "weakly_contested": "MAYBE", "targeted_actions_per_year": 2.5}}`,
				[]string{contacts, "answers.weakly_contested: must be one of ANSWER_YES, ANSWER_NO", actions}},
			{"wrong types", `{"programme_id": 5, "answers": {"identified_share": 0.5, "low_recurrence": true, "small_portfolio": "ANSWER_YES",
				"weakly_contested": "ANSWER_NO", "few_targeted_actions": "ANSWER_YES", "colour": "blue"}, "as_of": "yesterday"}`,
				[]string{"programme_id: must be a string, in double quotes",
					"answers.colour: is not a field of Answers",
					"as_of: must be a time in RFC 3339, like \"2026-03-10T09:30:00Z\"",
					"answers.identified_share: must be a string in double quotes: a share between 0 and 1, like 0.875 for 87.5%", "answers.low_recurrence: must be one of ANSWER_YES, ANSWER_NO"}},
			{"answers not an object", `{"answers": ["ANSWER_YES"]}`, []string{"answers: must be a JSON object"}},
		} {
			code, out := post(t, env.Key, url, c.body)
			if got := httpViolations(t, code, out); strings.Join(got, "\n") != strings.Join(c.want, "\n") &&
				!prefixes(got, c.want) {
				t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
			}
		}
		code, out := post(t, env.Key, url, `[1, 2]`)
		if code != http.StatusBadRequest || out["code"] != "INVALID_ARGUMENT" || out["violations"] != nil {
			t.Fatalf("not an object: %d %v", code, out)
		}
		resp := get(t, env.Key, env.URL+"/api/v1/eligibility/questions?as_of=yesterday")
		var q map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
			t.Fatal(err)
		}
		if vs := httpViolations(t, resp.StatusCode, q); len(vs) != 1 || !strings.HasPrefix(vs[0], "as_of: must be a time in RFC 3339") {
			t.Fatalf("questions as_of: %v", vs)
		}
	})
}

// prefixes says whether each of got starts with the want at its index.
func prefixes(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

// The identification rate sets the purchases members make in store against
// the anonymous sales stores report: purchases online do not change it,
// neither in the self-test nor in kpi_identification, whose name and
// columns BI reads.
func TestIdentificationCountsStorePurchasesOnly(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := eligibilitytest.Start(t, db)
		seed(t, env)
		type month struct {
			identified, anonymous int64
			rate                  float64
		}
		view := func() map[string]month {
			t.Helper()
			// GetProgrammeStats projects the purchases the view reads.
			if _, err := env.Kpi.GetProgrammeStats(ctx(t), &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: "tiered"}); err != nil {
				t.Fatal(err)
			}
			rows, err := db.QueryContext(ctx(t), `SELECT month, identified_transactions, anonymous_transactions, identification_rate
				FROM kpi_identification WHERE programme_id = 'tiered'`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			out := map[string]month{}
			for rows.Next() {
				var k string
				var m month
				if err := rows.Scan(&k, &m.identified, &m.anonymous, &m.rate); err != nil {
					t.Fatal(err)
				}
				out[k] = m
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		evidence := func() *eligibilityv1.Evidence {
			t.Helper()
			q, err := env.Eligibility.GetQuestions(ctx(t), &eligibilityv1.GetQuestionsRequest{ProgrammeId: "tiered"})
			if err != nil {
				t.Fatal(err)
			}
			return q.GetQuestions()[0].GetEvidence()
		}
		before := view()
		if ev := evidence(); ev.GetFigure() != "0.3" || !strings.Contains(ev.GetDetail(), "3 purchases by members in store, 7 anonymous sales") {
			t.Fatalf("in-store evidence: %v", ev)
		}
		if m := before["2026-03"]; len(before) != 5 || m.identified != 0 || m.anonymous != 7 || m.rate != 0 || before["2025-06"].rate != 1 {
			t.Fatalf("in-store purchases: %v", before)
		}
		online, err := env.Client.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "tiered",
			ExternalRef: "web-1", EnrolledAt: timestamppb.New(date("2025-01-01"))})
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []string{"2025-06-15", "2026-03-02", "2026-03-05", "2026-03-09"} {
			if _, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: online.GetMember().GetMemberId(),
				Channel: typev1.Channel_CHANNEL_ECOMMERCE, OrderRef: "web-" + at, OccurredAt: timestamppb.New(date(at)),
				Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "35", CurrencyCode: "EUR"}}}); err != nil {
				t.Fatal(err)
			}
		}
		if after := view(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("e-commerce purchases changed kpi_identification:\n%v\nwas\n%v", after, before)
		}
		if ev := evidence(); ev.GetFigure() != "0.3" || ev.GetAnswer() != no || !strings.Contains(ev.GetDetail(), "30% of in-store sales identified") {
			t.Fatalf("e-commerce purchases changed the identification evidence: %v", ev)
		}
		// They are purchases all the same: the recurrence counts them.
		st, err := env.Kpi.GetProgrammeStats(ctx(t), &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: "tiered"})
		if err != nil || st.GetPurchases() != 7 || st.GetStorePurchases() != 3 {
			t.Fatalf("stats %v %v", st, err)
		}
	})
}
