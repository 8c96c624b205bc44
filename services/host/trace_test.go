package host_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry/otlptest"
)

// traced starts the system exporting its traces to an OTLP receiver in
// this process.
func traced(t *testing.T, db *sqldb.DB) (*system, *otlptest.Receiver) {
	t.Helper()
	rcv := otlptest.Start(t)
	s := start(t, db, func(c *host.Config) { c.OTLPEndpoint, c.OTLPInsecure = rcv.Addr, true })
	return s, rcv
}

// flush stops the system, which exports every span it has.
func (s *system) flush() {
	s.h.Stop(5 * time.Second)
	s.h.Close()
}

// serverSpan is the one server span of the method.
func serverSpan(t *testing.T, rcv *otlptest.Receiver, fullMethod string) *tracepb.Span {
	t.Helper()
	var found []*tracepb.Span
	for _, sp := range rcv.Named(strings.TrimPrefix(fullMethod, "/")) {
		if sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			found = append(found, sp)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d server spans of %s, want 1", len(found), fullMethod)
	}
	return found[0]
}

func attr(sp *tracepb.Span, key string) (string, bool) {
	for _, a := range sp.GetAttributes() {
		if a.GetKey() == key {
			return a.GetValue().GetStringValue(), true
		}
	}
	return "", false
}

// One Earn yields its server span; a batch span "ledger.commit" linked to
// it; the transaction's statements as children of the batch span, with
// their text and no argument; and under the request span a wait span
// linked to the batch span.
func TestEarnTracesThroughTheDatabase(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, rcv := traced(t, db)
		c := ctx(t)
		ledger := ledgerv1.NewLedgerServiceClient(s.conn(t, s.key(t, "pos-trace", []string{"pos"})))
		enrolled, err := ledger.EnrolMember(c, &ledgerv1.EnrolMemberRequest{IdempotencyKey: "enrol-secret-key", ProgrammeId: "test",
			ExternalRef: "CARD-TRACE-1"})
		if err != nil {
			t.Fatal(err)
		}
		member := enrolled.GetMember().GetMemberId()
		if _, err := ledger.Earn(c, &ledgerv1.EarnRequest{IdempotencyKey: "earn-secret-key", MemberId: member,
			Channel: typev1.Channel_CHANNEL_POS, Basis: &ledgerv1.EarnRequest_Points{Points: 250}}); err != nil {
			t.Fatal(err)
		}
		s.flush()

		earn := serverSpan(t, rcv, ledgerv1.LedgerService_Earn_FullMethodName)
		var batch *tracepb.Span
		for _, sp := range rcv.Named("ledger.commit") {
			for _, l := range sp.GetLinks() {
				if bytes.Equal(l.GetTraceId(), earn.GetTraceId()) && bytes.Equal(l.GetSpanId(), earn.GetSpanId()) {
					if batch != nil {
						t.Fatal("two batch spans link to the Earn")
					}
					batch = sp
				}
			}
		}
		if batch == nil {
			t.Fatalf("no ledger.commit span links to the Earn's span %s", otlptest.ID(earn.GetSpanId()))
		}
		if len(batch.GetParentSpanId()) != 0 {
			t.Errorf("the batch span has a parent: it must be a root linked to its requests")
		}

		var statements []*tracepb.Span
		for _, sp := range rcv.Spans() {
			if bytes.Equal(sp.GetParentSpanId(), batch.GetSpanId()) {
				statements = append(statements, sp)
				if !bytes.Equal(sp.GetTraceId(), batch.GetTraceId()) {
					t.Errorf("statement span %q is in another trace than its batch", sp.GetName())
				}
			}
		}
		names := map[string]bool{}
		for _, sp := range statements {
			names[sp.GetName()] = true
			if sp.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("statement span %q is %v, want CLIENT", sp.GetName(), sp.GetKind())
			}
			if system, _ := attr(sp, "db.system.name"); system != map[sqldb.Dialect]string{sqldb.SQLite: "sqlite", sqldb.Postgres: "postgresql"}[db.Dialect] {
				t.Errorf("statement span %q: db.system.name %q", sp.GetName(), system)
			}
		}
		// PostgreSQL's writes go as a script (sqldb.ExecScript), SQLite's
		// one by one.
		write := map[sqldb.Dialect]string{sqldb.SQLite: "INSERT", sqldb.Postgres: "script"}[db.Dialect]
		for _, want := range []string{"BEGIN", "SELECT", write, "COMMIT"} {
			if !names[want] {
				t.Errorf("no %s span under the batch span; have %v", want, names)
			}
		}
		var texts int
		for _, sp := range statements {
			q, ok := attr(sp, "db.query.text")
			if ok != (sp.GetName() != "script" && sp.GetName() != "BEGIN" && sp.GetName() != "COMMIT") {
				t.Errorf("span %q: db.query.text %q", sp.GetName(), q)
			}
			if ok {
				texts++
				if !strings.Contains(q, "$1") && !strings.Contains(q, "?") && sp.GetName() != "SELECT" {
					t.Errorf("statement text without placeholders: %q", q)
				}
			}
		}
		if texts == 0 {
			t.Error("no statement span carries its text")
		}

		var waits int
		for _, sp := range rcv.Named("ledger.commit.wait") {
			if !bytes.Equal(sp.GetParentSpanId(), earn.GetSpanId()) {
				continue
			}
			waits++
			if len(sp.GetLinks()) != 1 || !bytes.Equal(sp.GetLinks()[0].GetSpanId(), batch.GetSpanId()) ||
				!bytes.Equal(sp.GetLinks()[0].GetTraceId(), batch.GetTraceId()) {
				t.Errorf("the Earn's wait span links to %v, want the batch span %s", sp.GetLinks(), otlptest.ID(batch.GetSpanId()))
			}
		}
		if waits != 1 {
			t.Errorf("%d ledger.commit.wait spans under the Earn, want 1", waits)
		}

		// No span carries the member id, card or idempotency keys: the
		// statements' arguments are not recorded.
		for _, sp := range rcv.Spans() {
			b, err := protojson.Marshal(sp)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{member, "CARD-TRACE-1", "earn-secret-key", "enrol-secret-key"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("span %q carries personal data or a key: %s", sp.GetName(), b)
				}
			}
		}
	})
}

// A Redeem's trace holds the rewards server span and the ledger server
// spans of the calls rewards made for it: the context crosses the call.
func TestRedeemTraceCrossesToTheLedger(t *testing.T) {
	s, rcv := traced(t, sqldbtest.Open(t, sqldb.SQLite))
	c := ctx(t)
	conn := s.conn(t, s.key(t, "insider", []string{"pos", "operator", "service"}))
	m := enrolWithPoints(t, ledgerv1.NewLedgerServiceClient(conn), "CARD-R", 900)
	rewards := rewardsv1.NewRewardsServiceClient(conn)
	reward := mug(t, rewards)
	if _, err := rewards.Redeem(c, &rewardsv1.RedeemRequest{IdempotencyKey: "redeem", MemberId: m, RewardId: reward.GetReward().GetRewardId(),
		Channel: typev1.Channel_CHANNEL_POS}); err != nil {
		t.Fatal(err)
	}
	s.flush()

	redeem := serverSpan(t, rcv, rewardsv1.RewardsService_Redeem_FullMethodName)
	byID := map[string]*tracepb.Span{}
	for _, sp := range rcv.Spans() {
		byID[otlptest.ID(sp.GetSpanId())] = sp
	}
	ledgerCalls := map[string]bool{}
	for _, sp := range rcv.Spans() {
		if sp.GetKind() != tracepb.Span_SPAN_KIND_SERVER || !strings.HasPrefix(sp.GetName(), "fidelis.ledger.v1.") ||
			!bytes.Equal(sp.GetTraceId(), redeem.GetTraceId()) {
			continue
		}
		ledgerCalls[sp.GetName()] = true
		// Its parent is the rewards service's client span of the call.
		if p := byID[otlptest.ID(sp.GetParentSpanId())]; p == nil || p.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || p.GetName() != sp.GetName() {
			t.Errorf("the parent of ledger span %s is %v, want the client span of the call", sp.GetName(), p)
		}
	}
	for _, want := range []string{ledgerv1.LedgerService_Hold_FullMethodName, ledgerv1.LedgerService_Capture_FullMethodName} {
		if !ledgerCalls[strings.TrimPrefix(want, "/")] {
			t.Errorf("no %s server span in the Redeem's trace %s; have %v", want, otlptest.ID(redeem.GetTraceId()), ledgerCalls)
		}
	}
}

// A line logged during a request carries the request's trace and span ids:
// here the internal error of a call whose table has gone.
func TestLogLinesCarryTheTraceID(t *testing.T) {
	s, rcv := traced(t, sqldbtest.Open(t, sqldb.SQLite))
	c := ctx(t)
	ledger := ledgerv1.NewLedgerServiceClient(s.conn(t, s.key(t, "pos-log", []string{"pos"})))
	enrolled, err := ledger.EnrolMember(c, &ledgerv1.EnrolMemberRequest{IdempotencyKey: "e", ProgrammeId: "test", ExternalRef: "CARD-L"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(c, `ALTER TABLE ledger_members RENAME TO ledger_members_gone`); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.GetMember(c, &ledgerv1.GetMemberRequest{MemberId: enrolled.GetMember().GetMemberId()}); status.Code(err) != codes.Internal {
		t.Fatalf("GetMember without its table: %v, want Internal", err)
	}
	s.flush()
	get := serverSpan(t, rcv, ledgerv1.LedgerService_GetMember_FullMethodName)
	want := "trace_id=" + otlptest.ID(get.GetTraceId()) + " span_id=" + otlptest.ID(get.GetSpanId())
	for line := range strings.Lines(string(s.logs.Bytes())) {
		if strings.Contains(line, `msg="internal error"`) {
			if !strings.Contains(line, want) {
				t.Errorf("the request's log line lacks %s:\n%s", want, line)
			}
			return
		}
	}
	t.Fatalf("no internal error logged:\n%s", s.logs.Bytes())
}

// enrolWithPoints enrols a member of programme test with the card and
// gives it points; it returns the member id.
func enrolWithPoints(t *testing.T, ledger ledgerv1.LedgerServiceClient, card string, points int64) string {
	t.Helper()
	enrolled, err := ledger.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: "enrol-" + card, ProgrammeId: "test", ExternalRef: card})
	if err != nil {
		t.Fatal(err)
	}
	m := enrolled.GetMember().GetMemberId()
	if _, err := ledger.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: "earn-" + card, MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
		Basis: &ledgerv1.EarnRequest_Points{Points: points}}); err != nil {
		t.Fatal(err)
	}
	return m
}

// mug creates a reward of programme test: a mug for 100 points.
func mug(t *testing.T, rewards rewardsv1.RewardsServiceClient) *rewardsv1.CreateRewardResponse {
	t.Helper()
	terms := &rewardsv1.RewardTerms{Name: "Mug", PointsCost: 100, Benefit: &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_FreeProductSku{FreeProductSku: "MUG"}},
		VoucherValidity: durationpb.New(time.Hour), StockTotal: 5}
	reward, err := rewards.CreateReward(ctx(t), &rewardsv1.CreateRewardRequest{IdempotencyKey: "r", ProgrammeId: "test", Terms: terms})
	if err != nil {
		t.Fatal(err)
	}
	return reward
}
