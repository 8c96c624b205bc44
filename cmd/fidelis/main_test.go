package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// fidelis serve on the embedded default answers health checks over gRPC
// and HTTP, serves the ledger, and stops cleanly when told to (SIGTERM
// cancels the same context).
func TestServeEmbeddedDefault(t *testing.T) {
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--db", "sqlite:" + filepath.Join(t.TempDir(), "f.db"),
			"--listen", grpcAddr, "--http-listen", httpAddr}, &logs, &logs)
	}()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "fidelis.ledger.v1.LedgerService"})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, path := range []string{"/eligibility", "/api/v1/eligibility/questions?programme_id=default"} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	r, err := eligibilityv1.NewEligibilityServiceClient(conn).SelfTest(ctx, &eligibilityv1.SelfTestRequest{Answers: &eligibilityv1.Answers{
		IdentifiesAllCustomers: eligibilityv1.Answer_ANSWER_NO, LowRecurrence: eligibilityv1.Answer_ANSWER_NO,
		SmallPortfolio: eligibilityv1.Answer_ANSWER_YES, WeaklyContested: eligibilityv1.Answer_ANSWER_NO,
		FewTargetedActions: eligibilityv1.Answer_ANSWER_YES}})
	if err != nil || r.GetVerdict() != eligibilityv1.Verdict_VERDICT_LOYALTY_PROGRAMME {
		t.Fatalf("self-test %v %v", r, err)
	}

	c := ledgerv1.NewLedgerServiceClient(conn)
	m, err := c.EnrolMember(ctx, &ledgerv1.EnrolMemberRequest{IdempotencyKey: "e1", ProgrammeId: "default", ExternalRef: "CARD-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Earn(ctx, &ledgerv1.EarnRequest{IdempotencyKey: "x1", MemberId: m.GetMember().GetMemberId(),
		Basis: &ledgerv1.EarnRequest_Points{Points: 10}, Channel: ledgerv1.Channel_CHANNEL_POS}); err != nil {
		t.Fatal(err)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Fatalf("no shutdown logged:\n%s", logs.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, &out, &out); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(context.Background(), []string{"serve", "--services", "billing"}, &out, &out); err == nil {
		t.Fatal("unknown service accepted")
	}
	if err := run(context.Background(), []string{"serve", "--services", "eligibility", "--listen", "127.0.0.1:0", "--http-listen", ""},
		&out, &out); err == nil || !strings.Contains(err.Error(), "need the ledger") {
		t.Fatalf("eligibility without a ledger: %v", err)
	}

}
