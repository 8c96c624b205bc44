package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

func questions() []Question {
	var qs []Question
	for _, s := range Specs() {
		qs = append(qs, s.Question)
	}
	return qs
}

func answers(a ...Answer) map[Question]Reply {
	r := map[Question]Reply{}
	for i, q := range questions() {
		r[q] = Reply{Answer: a[i]}
	}
	return r
}

func violations(t *testing.T, err error) map[string]string {
	t.Helper()
	f, ok := fault.As(err)
	if !ok || f.Kind != fault.KindInvalid {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	out := map[string]string{}
	for _, v := range f.Violations() {
		out[v.Field] = v.Msg
	}
	return out
}

// The majority decides; every finding says what it means.
func TestScoreMajority(t *testing.T) {
	for _, c := range []struct {
		answers []Answer
		want    Verdict
		yes     int
	}{
		{[]Answer{Yes, Yes, Yes, No, No}, RetentionFirst, 3},
		{[]Answer{Yes, Yes, No, No, No}, LoyaltyProgramme, 2},
		{[]Answer{No, No, No, No, No}, LoyaltyProgramme, 0},
		{[]Answer{Yes, Yes, Yes, Yes, Yes}, RetentionFirst, 5},
		{[]Answer{No, Yes, No, Yes, Yes}, RetentionFirst, 3},
	} {
		res, err := Score(answers(c.answers...), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != c.want || res.Yes != c.yes || res.No != 5-c.yes || len(res.Findings) != 5 {
			t.Fatalf("%v: %+v", c.answers, res)
		}
		for i, f := range res.Findings {
			if f.Question != questions()[i] || f.Source != FromAnswer || f.Answer != c.answers[i] || f.Implication() == "" {
				t.Fatalf("finding %d: %+v", i, f)
			}
		}
	}
}

// Every question left open is named, with what would answer it.
func TestScoreMissing(t *testing.T) {
	_, err := Score(nil, nil)
	vs := violations(t, err)
	if len(vs) != 5 {
		t.Fatalf("violations %v", vs)
	}
	for _, s := range Specs() {
		msg, ok := vs[s.AnswerField]
		if !ok || !strings.HasPrefix(msg, "missing") {
			t.Fatalf("%s: %q", s.AnswerField, msg)
		}
		if s.FigureField != "" && !strings.Contains(msg, s.FigureField) {
			t.Fatalf("%s does not mention %s: %q", s.AnswerField, s.FigureField, msg)
		}
	}
	if !strings.Contains(vs["answers.weakly_contested"], "only you can judge") {
		t.Fatalf("competition: %q", vs["answers.weakly_contested"])
	}
}

// Figures decide at the thresholds; an answer that contradicts its figure,
// a figure out of range, or a fraction of a count is refused.
func TestScoreFigures(t *testing.T) {
	base := answers(Unanswered, Unanswered, Unanswered, Yes, Unanswered)
	with := func(q Question, r Reply) map[Question]Reply {
		m := map[Question]Reply{}
		for k, v := range base {
			m[k] = v
		}
		m[q] = r
		return m
	}
	all := func(share, rate, contacts, actions string) map[Question]Reply {
		m := with(Identification, Reply{Figure: share})
		m[Recurrence] = Reply{Figure: rate}
		m[Portfolio] = Reply{Figure: contacts}
		m[TargetedActions] = Reply{Figure: actions}
		return m
	}
	res, err := Score(all("1", "2.99", "49999", "11"), nil)
	if err != nil || res.Yes != 5 || res.Findings[0].Source != FromFigure {
		t.Fatalf("just below the thresholds: %+v %v", res, err)
	}
	res, err = Score(all("0.999999", "3", "50000", "12"), nil)
	if err != nil || res.Yes != 1 || res.Verdict != LoyaltyProgramme {
		t.Fatalf("at the thresholds: %+v %v", res, err)
	}

	for _, c := range []struct {
		name  string
		q     Question
		r     Reply
		field string
		want  string
	}{
		{"contradiction", Recurrence, Reply{Answer: Yes, Figure: "4"}, "answers.low_recurrence", "you answered yes, but"},
		{"share above 1", Identification, Reply{Figure: "1.2"}, "answers.identified_share", "must be a share between 0 and 1, like 0.875"},
		{"percentage for a share", Identification, Reply{Figure: "87.5"}, "answers.identified_share", "between 0 and 1"},
		{"not a number", Identification, Reply{Figure: "abc"}, "answers.identified_share", "must be a share between 0 and 1"},
		{"exponent", Recurrence, Reply{Figure: "1e3"}, "answers.purchases_per_customer_year", "must be a number of purchases"},
		{"negative", Recurrence, Reply{Figure: "-1"}, "answers.purchases_per_customer_year", "0 or more"},
		{"fractional count", Portfolio, Reply{Figure: "10.5"}, "answers.contacts", "must be a whole number of customer contacts, 0 or more, like 12500"},
		{"negative count", TargetedActions, Reply{Figure: "-3"}, "answers.targeted_actions_per_year", "must be a whole number"},
		{"undefined answer", Competition, Reply{Answer: Undefined}, "answers.weakly_contested", "must be yes or no"},
		{"figure for a question without one", Competition, Reply{Answer: Yes, Figure: "1"}, "answers.weakly_contested", "no figure"},
	} {
		_, err := Score(with(c.q, c.r), nil)
		vs := violations(t, err)
		if !strings.Contains(vs[c.field], c.want) {
			t.Errorf("%s: %v", c.name, vs)
		}
		// The other open questions (all but competition) are named in
		// the same error.
		want := 4
		if c.q == Competition {
			want = 5
		}
		if len(vs) != want {
			t.Errorf("%s: %d violations, want %d: %v", c.name, len(vs), want, vs)
		}
	}
	// An answer that agrees with its figure is fine.
	res, err = Score(with(Recurrence, Reply{Answer: No, Figure: "4"}), map[Question]*Evidence{
		Identification: {Answer: No, Detail: "d"}, Portfolio: {Answer: No, Detail: "d"}, TargetedActions: {Answer: No, Detail: "d"},
	})
	if err != nil || res.Findings[1].Source != FromAnswer || !strings.Contains(res.Findings[1].Reason, "agrees") {
		t.Fatalf("agreeing figure: %+v %v", res, err)
	}
}

// Every problem of a request comes back at once, one per question, each on
// its field and in words: bad figures, an undefined answer, a
// contradiction and the questions left open.
func TestScoreEveryProblemAtOnce(t *testing.T) {
	_, err := Score(map[Question]Reply{
		Identification:  {Figure: "abc"},
		Recurrence:      {Answer: Yes, Figure: "4"},
		Portfolio:       {Answer: Yes, Figure: "12.5"},
		Competition:     {Answer: Undefined},
		TargetedActions: {},
	}, nil)
	vs := violations(t, err)
	want := map[string]string{
		"answers.identified_share":     "must be a share between 0 and 1, like 0.875 for 87.5%",
		"answers.low_recurrence":       "you answered yes, but your purchases per customer per year of 4 means no",
		"answers.contacts":             "must be a whole number of customer contacts, 0 or more, like 12500",
		"answers.weakly_contested":     "must be yes or no",
		"answers.few_targeted_actions": "missing: answer yes or no, or give answers.targeted_actions_per_year",
	}
	if len(vs) != len(want) {
		t.Fatalf("violations %v", vs)
	}
	for field, msg := range want {
		if !strings.HasPrefix(vs[field], msg) {
			t.Errorf("%s: %q, want %q", field, vs[field], msg)
		}
	}
	// A figure as written may have spaces around it and trailing zeros.
	res, err := Score(map[Question]Reply{Identification: {Figure: " 1.000 "}, Recurrence: {Figure: "3.0"},
		Portfolio: {Figure: "50000.0"}, Competition: {Answer: No}, TargetedActions: {Figure: "0"}}, nil)
	if err != nil || res.Yes != 2 || res.Findings[0].Answer != Yes || res.Findings[2].Answer != No {
		t.Fatalf("figures as written: %+v %v", res, err)
	}
}

// The programme's data decides what the caller leaves open; the caller's
// answer overrides it, and the finding says the data disagrees.
func TestScoreFromData(t *testing.T) {
	ev := map[Question]*Evidence{
		Identification:  {Answer: No, Detail: "80% identified"},
		Recurrence:      {Answer: Yes, Detail: "1.5 purchases"},
		Portfolio:       {Answer: Yes, Detail: "1,200 members"},
		Competition:     {Detail: "only you can judge how contested your offer is"},
		TargetedActions: {Detail: "cannot be counted"},
	}
	replies := map[Question]Reply{Competition: {Answer: No}, TargetedActions: {Answer: Yes}, Identification: {Answer: Yes}}
	res, err := Score(replies, ev)
	if err != nil {
		t.Fatal(err)
	}
	f := res.Findings
	if f[0].Source != FromAnswer || f[0].Answer != Yes || !strings.Contains(f[0].Reason, "data says no: 80% identified") {
		t.Fatalf("override: %+v", f[0])
	}
	if f[1].Source != FromData || f[1].Answer != Yes || f[2].Source != FromData || res.Yes != 4 || res.Verdict != RetentionFirst {
		t.Fatalf("from data: %+v", res)
	}
	_, err = Score(map[Question]Reply{Competition: {Answer: No}}, ev)
	if vs := violations(t, err); len(vs) != 1 || !strings.Contains(vs["answers.few_targeted_actions"], "cannot be counted") {
		t.Fatalf("undecidable data: %v", vs)
	}
}

func TestEvidence(t *testing.T) {
	to := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	from := to.AddDate(-1, 0, 0)
	d := &ProgrammeData{From: from, To: to, Members: 120_000, Buyers: 1000, Purchases: 4000, StorePurchases: 2500, FirstPurchase: from.AddDate(-2, 0, 0),
		AnonymousSales: 500, AnonymousStoreDays: 30, Targeted: &TargetedCount{Rewards: 2, PartnerOffers: 1}}
	ev := d.Evidence()
	check := func(q Question, a Answer, figure string, detail ...string) {
		t.Helper()
		e := ev[q]
		if e.Answer != a || (figure == "" && e.Figure != nil) || (figure != "" && (e.Figure == nil || e.Figure.String() != figure)) {
			t.Fatalf("question %d: %+v", q, e)
		}
		for _, s := range detail {
			if !strings.Contains(e.Detail, s) {
				t.Fatalf("question %d: %q lacks %q", q, e.Detail, s)
			}
		}
	}
	// In store: 2,500 of 4,000 purchases; the 1,500 others were online.
	check(Identification, No, "0.8333", "83.33% of in-store sales identified", "2,500 purchases by members in store", "500 anonymous")
	check(Recurrence, No, "4", "4 purchases per buying member per year", "1,000 members")
	d.Purchases = 2500
	ev = d.Evidence()
	check(Recurrence, Yes, "2.5", "2.5 purchases per buying member per year", "1,000 members")
	check(Portfolio, No, "120000", "120,000 members")
	check(Competition, Unanswered, "", "only you")
	check(TargetedActions, Yes, "3", "2 rewards and 1 partner offers")

	// Half a year of history is annualised: 1.5 purchases in 6 months is 3 a year.
	d.FirstPurchase, d.Purchases, d.Buyers = to.Add(-to.Sub(from)/2), 1500, 1000
	ev = d.Evidence()
	check(Recurrence, No, "3", "annualised")
	d.FirstPurchase = to.AddDate(0, 0, -10)
	check2 := d.Evidence()[Recurrence]
	if check2.Answer != Unanswered || !strings.Contains(check2.Detail, "less than 4 weeks") {
		t.Fatalf("short history: %+v", check2)
	}

	empty := (&ProgrammeData{From: from, To: to}).Evidence()
	for _, q := range questions() {
		if empty[q].Answer != Unanswered || empty[q].Detail == "" {
			t.Fatalf("no data, question %d: %+v", q, empty[q])
		}
	}
	full := (&ProgrammeData{From: from, To: to, Purchases: 10, StorePurchases: 10, AnonymousStoreDays: 3, Targeted: &TargetedCount{Unread: []string{"partner offers"}}}).Evidence()
	if full[Identification].Answer != Yes || full[Identification].Figure.String() != "1" {
		t.Fatalf("all identified: %+v", full[Identification])
	}
	if !strings.Contains(full[TargetedActions].Detail, "partner offers could not be read") {
		t.Fatalf("unread source: %+v", full[TargetedActions])
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -50000: "-50,000"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q", n, got)
		}
	}
}

func TestPlainNumber(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "12": true, "0.875": true, "-3": true, "2.50": true,
		"": false, "abc": false, "1e3": false, "+5": false, ".5": false, "5.": false, "1,5": false, "1.2.3": false, "- 1": false, "0x10": false} {
		if got := plainNumber(s); got != want {
			t.Errorf("plainNumber(%q) = %v", s, got)
		}
	}
}
