package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
)

// serveForTest runs fidelis serve with args, and returns a connection to
// it once the partners service is serving, and how to stop it (at the end
// of the test otherwise).
func serveForTest(t *testing.T, args ...string) (*grpc.ClientConn, func()) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", addr, "--http-listen", ""}, args...), &logs, &logs)
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(stop)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "fidelis.partners.v1.PartnerAdminService"})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return conn, stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving: %v\n%s", err, logs.String())
		}
	}
}

func bearer(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// With no flags, serve keeps a generated operators' token in a file only
// its user can read, beside the SQLite database, and keeps it across
// restarts; PartnerAdminService takes that token only, and the eligibility
// test in the same process reads partner offers with it.
func TestServeGeneratesThePartnersAdminToken(t *testing.T) {
	db := filepath.Join(t.TempDir(), "f.db")
	conn, stop := serveForTest(t, "--db", "sqlite:"+db)
	info, err := os.Stat(db + ".partners-admin-token")
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", info.Mode().Perm())
	}
	b, err := os.ReadFile(db + ".partners-admin-token")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(b))
	admin := partnersv1.NewPartnerAdminServiceClient(conn)
	_, err = admin.ListAudit(context.Background(), &partnersv1.ListAuditRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v, want Unauthenticated", err)
	}
	if _, err := eligibilityv1.NewEligibilityServiceClient(conn).SelfTest(context.Background(),
		&eligibilityv1.SelfTestRequest{ProgrammeId: "default", Answers: &eligibilityv1.Answers{
			IdentifiesAllCustomers: eligibilityv1.Answer_ANSWER_NO, LowRecurrence: eligibilityv1.Answer_ANSWER_NO,
			SmallPortfolio: eligibilityv1.Answer_ANSWER_YES, WeaklyContested: eligibilityv1.Answer_ANSWER_NO,
			FewTargetedActions: eligibilityv1.Answer_ANSWER_YES}}); err != nil {
		t.Fatalf("self-test on the programme's data: %v", err)
	}
	r, err := admin.ListAudit(bearer(token), &partnersv1.ListAuditRequest{PartnerId: "operator"})
	if err != nil || len(r.GetEntries()) != 1 || r.GetEntries()[0].GetMethod() != "ListProgrammeOffers" {
		t.Fatalf("the eligibility test's read of partner offers, as operator: %v %v", r, err)
	}

	// A restart keeps the token.
	stop()
	conn, _ = serveForTest(t, "--db", "sqlite:"+db)
	again := partnersv1.NewPartnerAdminServiceClient(conn)
	if _, err := again.ListAudit(bearer(token), &partnersv1.ListAuditRequest{}); err != nil {
		t.Fatalf("the kept token after a restart: %v", err)
	}
}

// A token given by file or environment is the one taken, and nothing is
// generated; a short one, or both, are refused at start.
func TestServePartnersAdminTokenGiven(t *testing.T) {
	dir := t.TempDir()
	token := strings.Repeat("0123456789abcdef", 3)
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, _ := serveForTest(t, "--db", "sqlite:"+filepath.Join(dir, "f.db"), "--partners-admin-token-file", file)
	admin := partnersv1.NewPartnerAdminServiceClient(conn)
	if _, err := admin.ListAudit(bearer(token), &partnersv1.ListAuditRequest{}); err != nil {
		t.Fatalf("the given token: %v", err)
	}
	if _, err := admin.ListAudit(bearer(token[1:]+"x"), &partnersv1.ListAuditRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("another token: %v, want Unauthenticated", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "f.db.partners-admin-token")); !os.IsNotExist(err) {
		t.Fatalf("a token was generated although one was given: %v", err)
	}

	var out bytes.Buffer
	args := []string{"serve", "--db", "sqlite:" + filepath.Join(dir, "g.db"), "--listen", "127.0.0.1:0", "--http-listen", ""}
	t.Setenv("FIDELIS_PARTNERS_ADMIN_TOKEN", "short")
	if err := run(context.Background(), args, &out, &out); err == nil || !strings.Contains(err.Error(), "at least 32 characters") {
		t.Fatalf("a short token: %v", err)
	}
	t.Setenv("FIDELIS_PARTNERS_ADMIN_TOKEN", token)
	if err := run(context.Background(), append(args, "--partners-admin-token-file", file), &out, &out); err == nil ||
		!strings.Contains(err.Error(), "not both") {
		t.Fatalf("a token and a token file: %v", err)
	}
}
