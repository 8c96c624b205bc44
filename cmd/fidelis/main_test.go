package main

import (
	"bytes"
	"context"
	"net/http"
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

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
)

// server is a running `fidelis serve`.
type server struct {
	grpc, http, ops string
	conn            *grpc.ClientConn
	logs            *syncBuffer
	stop            func() error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveForTest runs fidelis serve with args until the end of the test (or
// stop), once its ops port answers that it is serving. Its listeners take
// ports the kernel chooses (":0"), read back from its log: ports chosen
// beforehand could be taken by another test meanwhile.
func serveForTest(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"},
			args...), s.logs, s.logs)
	}()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = context.DeadlineExceeded
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(s.logs.String(), `msg="fidelis serving"`); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err // for stop
			t.Fatalf("serve: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after 20 s\n%s", s.logs.String())
		}
	}
	logs := s.logs.String()
	s.grpc, s.http, s.ops = logged(logs, `msg="fidelis serving" grpc=`), logged(logs, `msg="http listening" addr=`), logged(logs, `msg="ops listening" addr=`)
	conn, err := grpc.NewClient(s.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.conn = conn
	// kubelet's gRPC probe: plaintext HTTP/2 to the ops port, no credential.
	ops, err := grpc.NewClient(s.ops, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := healthpb.NewHealthClient(ops).Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving: %v\n%s", err, s.logs.String())
		}
	}
}

// logged is the address a log line that has prefix names ("" without one).
func logged(logs, prefix string) string {
	_, rest, ok := strings.Cut(logs, prefix)
	if !ok {
		return ""
	}
	addr, _, _ := strings.Cut(rest, " ")
	return strings.TrimSpace(addr)
}

func bearer(key string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
}

func readKey(t *testing.T, path string) string {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: mode %v, want 0600", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// fidelis serve on the embedded default: health on the operations port
// (gRPC and HTTP, no credential), the first operator key in
// <db>.admin-key (0600, as is the database), every other call
// authenticated; the admin key makes a POS key, which earns; a clean stop.
func TestServeEmbeddedDefault(t *testing.T) {
	db := filepath.Join(t.TempDir(), "f.db")
	s := serveForTest(t, "--db", "sqlite:"+db)
	admin := readKey(t, db+".admin-key")
	for _, f := range []string{db, db + "-wal"} {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, info, err)
		}
	}
	resp, err := http.Get("http://" + s.ops + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// The main port answers health checks without a credential too, and
	// nothing else.
	if r, err := healthpb.NewHealthClient(s.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil ||
		r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health on the main port: %v %v", r, err)
	}
	c := ledgerv1.NewLedgerServiceClient(s.conn)
	if _, err := c.GetProgramme(context.Background(), &ledgerv1.GetProgrammeRequest{ProgrammeId: "default"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a call without a key: %v, want Unauthenticated", err)
	}
	// The page is there; what it reads needs a key.
	for path, want := range map[string]int{"/eligibility": http.StatusOK, "/api/v1/eligibility/questions?programme_id=default": http.StatusUnauthorized} {
		resp, err := http.Get("http://" + s.http + path)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %v %v, want %d", path, resp, err, want)
		}
		resp.Body.Close()
	}

	// The admin (an operator) makes a principal for a POS fleet and a key.
	pos := posKey(t, s, db)
	m := enrol(t, c, pos)
	if _, err := c.Earn(bearer(pos), &ledgerv1.EarnRequest{IdempotencyKey: "x1", MemberId: m.GetMember().GetMemberId(),
		Basis: &ledgerv1.EarnRequest_Points{Points: 10}, Channel: typev1.Channel_CHANNEL_POS}); err != nil {
		t.Fatal(err)
	}
	// A POS key may not adjust, nor an operator's earn on a till.
	if _, err := ledgerv1.NewLedgerAdminServiceClient(s.conn).Adjust(bearer(pos), &ledgerv1.AdjustRequest{IdempotencyKey: "a1", MemberId: m.GetMember().GetMemberId(),
		Points: 1000000, Reason: "mine"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a POS adjusting: %v, want PermissionDenied", err)
	}
	// The eligibility test reads the ledger, rewards and partner offers as
	// the caller's delegate.
	if _, err := eligibilityv1.NewEligibilityServiceClient(s.conn).SelfTest(bearer(admin), &eligibilityv1.SelfTestRequest{ProgrammeId: "default",
		Answers: &eligibilityv1.Answers{IdentifiesAllCustomers: eligibilityv1.Answer_ANSWER_NO, LowRecurrence: eligibilityv1.Answer_ANSWER_NO,
			SmallPortfolio: eligibilityv1.Answer_ANSWER_YES, WeaklyContested: eligibilityv1.Answer_ANSWER_NO,
			FewTargetedActions: eligibilityv1.Answer_ANSWER_YES}}); err != nil {
		t.Fatalf("self-test on the programme's data: %v", err)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(s.logs.String(), "shutting down") {
		t.Fatalf("no shutdown logged:\n%s", s.logs.String())
	}

	// A restart registers the same admin key: no new one.
	s = serveForTest(t, "--db", "sqlite:"+db)
	if got := readKey(t, db+".admin-key"); got != admin {
		t.Fatal("the admin key file changed on restart")
	}
	r, err := accessv1.NewAccessServiceClient(s.conn).ListApiKeys(bearer(admin), &accessv1.ListApiKeysRequest{PrincipalId: "admin"})
	if err != nil || len(r.GetKeys()) != 1 {
		t.Fatalf("admin keys after a restart: %v %v", r, err)
	}
	// The partners admin API is the operators': the admin key works there.
	if _, err := partnersv1.NewPartnerAdminServiceClient(s.conn).ListAudit(bearer(admin), &partnersv1.ListAuditRequest{}); err != nil {
		t.Fatalf("partners admin as the admin: %v", err)
	}
}

// fidelis keys makes, lists, rotates and revokes keys on the database; a
// server on the same database takes them, and stops taking a revoked one.
func TestKeysCommand(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "f.db")
	keys := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"keys"}, append(args, "--db", db)...), &out, &errOut)
		if err != nil {
			t.Logf("fidelis keys %v: %s", args, errOut.String())
		}
		return strings.TrimSpace(out.String()), err
	}
	bi, err := keys("create", "--principal", "bi-tool", "--roles", "bi", "--programmes", "default")
	if err != nil || !strings.Contains(bi, ".") {
		t.Fatalf("create: %q %v", bi, err)
	}
	if _, err := keys("create", "--principal", "bi-tool", "--roles", "operator"); err == nil {
		t.Fatal("changing an existing principal's roles by making a key was accepted")
	}
	if _, err := keys("create", "--principal", "nobody"); err == nil {
		t.Fatal("a key for a principal that does not exist, without roles, was made")
	}
	s := serveForTest(t, "--db", db, "--key-cache-ttl", "1s")
	kpis := ledgerv1.NewKpiServiceClient(s.conn)
	stats := &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: "default"}
	if _, err := kpis.GetProgrammeStats(bearer(bi), stats); err != nil {
		t.Fatalf("the made key: %v", err)
	}
	list, err := keys("list", "--principal", "bi-tool")
	if err != nil || !strings.Contains(list, "bi-tool") || !strings.Contains(list, "active") || strings.Contains(list, bi[strings.Index(bi, ".")+1:]) {
		t.Fatalf("list: %q %v", list, err)
	}
	keyID := bi[:strings.Index(bi, ".")]
	rotated, err := keys("rotate", keyID, "--overlap", "1h")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{bi, rotated} {
		if _, err := kpis.GetProgrammeStats(bearer(k), stats); err != nil {
			t.Fatalf("in the overlap: %v", err)
		}
	}
	if _, err := keys("revoke", keyID); err != nil {
		t.Fatal(err)
	}
	// Revoked in another process: this server sees it within its key cache
	// lifetime (1 s here); the new key keeps working.
	revoked := time.Now()
	deadline := revoked.Add(5 * time.Second)
	for {
		_, err := kpis.GetProgrammeStats(bearer(bi), stats)
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked key still works after 5 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the revocation took effect after %s", time.Since(revoked).Round(time.Millisecond))
	if _, err := kpis.GetProgrammeStats(bearer(rotated), stats); err != nil {
		t.Fatalf("the new key: %v", err)
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
	if err := run(context.Background(), []string{"serve", "--db", "sqlite::memory:", "--services", "eligibility", "--listen", "127.0.0.1:0",
		"--http-listen", "", "--ops-listen", ""}, &out, &out); err == nil || !strings.Contains(err.Error(), "need the ledger") {
		t.Fatalf("eligibility without a ledger: %v", err)
	}
}

// Plaintext beyond loopback is refused at start, saying why, unless told
// otherwise.
func TestServeRefusesPlaintextBeyondLoopback(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:0", "--http-listen", ""},
		{"--listen", "127.0.0.1:0", "--http-listen", ":0"},
	} {
		err := run(context.Background(), append([]string{"serve", "--db", "sqlite::memory:", "--ops-listen", ""}, args...), &out, &out)
		if err == nil || !strings.Contains(err.Error(), "plaintext") || !strings.Contains(err.Error(), "--tls-cert") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if err := run(context.Background(), []string{"serve", "--db", "sqlite::memory:", "--client-ca", "ca.pem"}, &out, &out); err == nil ||
		!strings.Contains(err.Error(), "--client-ca needs") {
		t.Errorf("a client CA without TLS: %v", err)
	}
}
