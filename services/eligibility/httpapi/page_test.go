package httpapi_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/eligibilitytest"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

var keySeq atomic.Int64

func key() string { return fmt.Sprintf("k-%d", keySeq.Add(1)) }

// chromium finds the browser (FIDELIS_CHROMIUM, else chromium on PATH). It
// skips the test without one, except with CI=true, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FIDELIS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium found (install the Debian chromium package or set FIDELIS_CHROMIUM)")
	}
	t.Skip("no chromium found (install the Debian chromium package or set FIDELIS_CHROMIUM)")
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first run starts the browser, which lives as long as its context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](ctx context.Context, t *testing.T, js string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func hidden(ctx context.Context, t *testing.T, sel string) bool {
	t.Helper()
	return eval[bool](ctx, t, fmt.Sprintf(`document.querySelector(%q).hidden`, sel))
}

// stepTimeout bounds one step on the page.
const stepTimeout = 15 * time.Second

// do runs steps, failing with what the page shows if they do not finish in
// time.
func do(ctx context.Context, t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%v; the page shows:\n%s", err, body)
	}
}

// A person answers the questions on the page in headless Chromium: with a
// programme, its data answers what it can and the page shows it; an open
// question, a figure that is not a number, a fraction of a count, or an
// answer that contradicts its figure is shown at the question, all of them
// at once; the verdict comes with a reason per question.
func TestPageInChromium(t *testing.T) {
	ctx := browser(t)
	env := eligibilitytest.Start(t, sqldbtest.Open(t, sqldb.SQLite))
	c := env.Client
	m, err := c.EnrolMember(context.Background(), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "tiered", ExternalRef: "card-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ago := range []time.Duration{300, 200} {
		if _, err := c.Earn(context.Background(), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m.GetMember().GetMemberId(),
			Channel: typev1.Channel_CHANNEL_POS, OccurredAt: timestamppb.New(env.Clock.Now().Add(-ago * 24 * time.Hour)),
			Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "20", CurrencyCode: "EUR"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ReportAnonymousSales(context.Background(), &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "tiered",
		StoreId: "paris-01", BusinessDay: &date.Date{Year: 2026, Month: 3, Day: 1}, Transactions: 0}); err != nil {
		t.Fatal(err)
	}

	// Without a key, nothing is read; with one, kept in the tab, the
	// programme's data.
	do(ctx, t, chromedp.Navigate(env.URL+"/eligibility?programme=tiered"), chromedp.WaitVisible(chromedp.ID("#form-error")))
	if e := text(ctx, t, "#form-error"); !strings.Contains(e, "missing credentials") {
		t.Fatalf("without a key: %q", e)
	}
	do(ctx, t, chromedp.SendKeys(chromedp.ID("#api-key"), env.Key), chromedp.Click(chromedp.ID("#use-key")),
		chromedp.WaitVisible(chromedp.ID("#q1-evidence")))
	if ev := text(ctx, t, "#q1-evidence"); !strings.Contains(ev, "100% of in-store sales identified") {
		t.Fatalf("identification evidence: %q", ev)
	}
	if ev := text(ctx, t, "#q3-evidence"); !strings.Contains(ev, "1 members enrolled") {
		t.Fatalf("portfolio evidence: %q", ev)
	}
	do(ctx, t, chromedp.Click(chromedp.ID("#score")), chromedp.WaitVisible(chromedp.ID("#q4-error")))
	if e := text(ctx, t, "#q4-error"); !strings.Contains(e, "missing") || !hidden(ctx, t, "#result") || !hidden(ctx, t, "#q1-error") {
		t.Fatalf("open question 4: %q", e)
	}
	do(ctx, t, chromedp.SendKeys(chromedp.ID("#q3-figure"), "12.5"), chromedp.Click(chromedp.ID("#q4-no")),
		chromedp.Click(chromedp.ID("#score")), chromedp.WaitVisible(chromedp.ID("#q3-error")))
	if e := text(ctx, t, "#q3-error"); !strings.Contains(e, "whole number") {
		t.Fatalf("fractional count: %q", e)
	}
	eval[string](ctx, t, `document.querySelector("#q3-figure").value = ""`)
	do(ctx, t, chromedp.Click(chromedp.ID("#score")),
		chromedp.WaitVisible(chromedp.ID("#result")))
	// Data: identified 100% yes, 2 purchases a year yes, 1 member yes,
	// no targeted actions yes; the person: weakly contested no.
	if v := text(ctx, t, "#verdict"); v != "Work on retention without a card first" {
		t.Fatalf("verdict %q", v)
	}
	if s := text(ctx, t, "#summary"); !strings.HasPrefix(s, "4 of 5 answers are yes") {
		t.Fatalf("summary %q", s)
	}
	findings := eval[int](ctx, t, `document.querySelectorAll("#findings li").length`)
	if f := text(ctx, t, "#findings li:nth-child(2)"); findings != 5 || !strings.Contains(f, "from your programme's data") {
		t.Fatalf("%d findings; second: %q", findings, f)
	}

	// Without a programme: everything by hand, and a contradiction.
	do(ctx, t, chromedp.Navigate(env.URL+"/eligibility"), chromedp.WaitVisible(chromedp.ID("#q5-no")))
	if evidence := eval[int](ctx, t, `document.querySelectorAll(".evidence").length`); evidence != 0 {
		t.Fatalf("%d evidence lines without a programme", evidence)
	}
	// Every problem at once, each at its question: a figure that is not a
	// number, a fraction of a count, and the questions left open.
	do(ctx, t, chromedp.SendKeys(chromedp.ID("#q1-figure"), "abc"), chromedp.SendKeys(chromedp.ID("#q3-figure"), "12.5"),
		chromedp.Click(chromedp.ID("#score")), chromedp.WaitVisible(chromedp.ID("#q5-error")))
	for q, want := range map[int]string{
		1: "must be a share between 0 and 1, like 0.875", 2: "missing", 3: "must be a whole number of customer contacts",
		4: "missing", 5: "missing",
	} {
		if e := text(ctx, t, fmt.Sprintf("#q%d-error", q)); !strings.Contains(e, want) {
			t.Errorf("question %d: %q, want %q", q, e, want)
		}
	}
	if e := text(ctx, t, "#form-error"); e != "Some answers need attention." {
		t.Errorf("form error %q", e)
	}
	eval[string](ctx, t, `document.querySelector("#q1-figure").value = document.querySelector("#q3-figure").value = ""`)
	do(ctx, t, chromedp.Click(chromedp.ID("#q1-no")), chromedp.Click(chromedp.ID("#q2-yes")),
		chromedp.SendKeys(chromedp.ID("#q2-figure"), "5"), chromedp.SendKeys(chromedp.ID("#q3-figure"), "120000"),
		chromedp.Click(chromedp.ID("#q4-no")), chromedp.Click(chromedp.ID("#q5-yes")),
		chromedp.Click(chromedp.ID("#score")), chromedp.WaitVisible(chromedp.ID("#q2-error")))
	if e := text(ctx, t, "#q2-error"); !strings.Contains(e, "you answered yes") {
		t.Fatalf("contradiction: %q", e)
	}
	do(ctx, t, chromedp.Click(chromedp.ID("#q2-no-answer")), chromedp.Click(chromedp.ID("#score")),
		chromedp.WaitVisible(chromedp.ID("#result")))
	if v := text(ctx, t, "#verdict"); v != "A loyalty programme makes sense" || !hidden(ctx, t, "#q2-error") {
		t.Fatalf("verdict %q", v)
	}
}
