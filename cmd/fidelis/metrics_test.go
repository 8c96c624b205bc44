package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
)

// posKey makes, with the admin key of a server on db, a POS principal
// bound to the default programme and returns its API key.
func posKey(t *testing.T, s *server, db string) string {
	t.Helper()
	admin := readKey(t, db+".admin-key")
	access := accessv1.NewAccessServiceClient(s.conn)
	if _, err := access.CreatePrincipal(bearer(admin), &accessv1.CreatePrincipalRequest{IdempotencyKey: "p1", Principal: &accessv1.Principal{
		PrincipalId: "pos-paris", Roles: []accessv1.Role{accessv1.Role_ROLE_POS}, Programmes: []string{"default"}}}); err != nil {
		t.Fatal(err)
	}
	made, err := access.CreateApiKey(bearer(admin), &accessv1.CreateApiKeyRequest{IdempotencyKey: "k1", PrincipalId: "pos-paris"})
	if err != nil {
		t.Fatal(err)
	}
	return made.GetSecretKey()
}

// enrol enrols CARD-1 in the default programme with key.
func enrol(t *testing.T, c ledgerv1.LedgerServiceClient, key string) *ledgerv1.EnrolMemberResponse {
	t.Helper()
	m, err := c.EnrolMember(bearer(key), &ledgerv1.EnrolMemberRequest{IdempotencyKey: "e1", ProgrammeId: "default", ExternalRef: "CARD-1"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scrape reads the ops port's /metrics as Prometheus would.
func scrape(t *testing.T, ops string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation) // names Prometheus 2 accepts
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// sample sums the samples of a family whose labels include labels: a
// counter's or gauge's value, a histogram's count. ok is false when none
// matches.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, want := range labels {
			if have[k] != want {
				continue next
			}
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return v, ok
}

// /metrics on the operations port: after an earn, a replayed earn, a burn,
// a refused adjustment and a call without a key, the ledger's counters, the
// RPC metrics (by method, code and listener), the replay, the denial and
// the failed authentication are there, under Prometheus names, with no
// member id, card or key in any label; the access log has one line per
// call with method, code, duration and principal, and no member id.
// Profiles are off by default.
func TestServeMetricsAndAccessLog(t *testing.T) {
	db := filepath.Join(t.TempDir(), "f.db")
	s := serveForTest(t, "--db", "sqlite:"+db)
	pos := posKey(t, s, db)
	c := ledgerv1.NewLedgerServiceClient(s.conn)
	member := enrol(t, c, pos).GetMember().GetMemberId()
	earn := &ledgerv1.EarnRequest{IdempotencyKey: "earn-1", MemberId: member, Basis: &ledgerv1.EarnRequest_Points{Points: 250}, Channel: typev1.Channel_CHANNEL_POS}
	for range 2 { // the second is a replay: no more points
		if _, err := c.Earn(bearer(pos), earn); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Burn(bearer(pos), &ledgerv1.BurnRequest{IdempotencyKey: "burn-1", MemberId: member, Points: 100, Channel: typev1.Channel_CHANNEL_ECOMMERCE}); err != nil {
		t.Fatal(err)
	}
	if _, err := ledgerv1.NewLedgerAdminServiceClient(s.conn).Adjust(bearer(pos), &ledgerv1.AdjustRequest{IdempotencyKey: "a1", MemberId: member,
		Points: 5, Reason: "mine"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a POS adjusting: %v, want PermissionDenied", err)
	}
	if _, err := c.GetBalance(context.Background(), &ledgerv1.GetBalanceRequest{MemberId: member}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no key: %v, want Unauthenticated", err)
	}

	fams := scrape(t, s.ops)
	earnMethod := "fidelis.ledger.v1.LedgerService/Earn"
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fidelis_ledger_points_earned_total", map[string]string{"programme": "default", "channel": "pos"}, 250},
		{"fidelis_ledger_points_burned_total", map[string]string{"programme": "default", "channel": "ecommerce"}, 100},
		{"rpc_server_call_duration_seconds", map[string]string{"rpc_method": earnMethod, "rpc_response_status_code": "OK", "listener": "public"}, 2},
		{"fidelis_idempotency_replays_total", map[string]string{"rpc_method": earnMethod, "listener": "public"}, 1},
		{"fidelis_authz_denied_total", map[string]string{"rpc_method": "fidelis.ledger.v1.LedgerAdminService/Adjust"}, 1},
		{"fidelis_authn_failures_total", map[string]string{"reason": "missing_credentials"}, 1},
		// Enrol, earn and burn committed: one batch each (the replay
		// commits nothing new, but is a batch of its own).
		{"fidelis_ledger_commit_duration_seconds", map[string]string{"shard": "0", "outcome": "committed"}, 4},
		{"fidelis_ledger_batch_size", map[string]string{"shard": "0"}, 4},
		{"fidelis_ledger_queue_depth", map[string]string{"shard": "0"}, 0},
		{"fidelis_database_up", nil, 1},
		{"go_sql_max_open_connections", map[string]string{"db_name": "fidelis"}, 1},
		{"fidelis_lease_held", map[string]string{"lease": "ledger-projector"}, 1},
	} {
		if got, ok := sample(fams, w.name, w.labels); !ok || got != w.want {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, got, ok, w.want)
		}
	}
	for _, name := range []string{"fidelis_ledger_projector_backlog", "fidelis_ledger_projector_lag_seconds", "fidelis_job_runs_total",
		"fidelis_job_duration_seconds", "process_cpu_seconds_total", "go_goroutines"} {
		if _, ok := sample(fams, name, nil); !ok {
			t.Errorf("%s is not served", name)
		}
	}
	// No series names a member, a card or a key.
	body := func() string {
		resp, err := http.Get("http://" + s.ops + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}()
	keyID, _, _ := strings.Cut(pos, ".")
	for _, secret := range []string{member, "CARD-1", keyID, "earn-1"} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics holds %q", secret)
		}
	}

	logs := s.logs.String()
	var earnLines []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "msg=rpc ") && strings.Contains(l, "method="+earnMethod+" ") {
			earnLines = append(earnLines, l)
		}
	}
	if len(earnLines) != 2 || !strings.Contains(earnLines[0], "level=INFO") || !strings.Contains(earnLines[0], "code=OK") ||
		!strings.Contains(earnLines[0], "principal=pos-paris") || !strings.Contains(earnLines[0], "took=") ||
		strings.Contains(earnLines[0], "replayed") || !strings.Contains(earnLines[1], "replayed=true") {
		t.Errorf("access log lines of the two earns:\n%s", strings.Join(earnLines, "\n"))
	}
	if !strings.Contains(logs, "method=fidelis.ledger.v1.LedgerAdminService/Adjust code=PermissionDenied") {
		t.Error("no access log line of the denied adjustment")
	}
	for _, secret := range []string{member, "CARD-1", keyID, "earn-1"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}

	resp, err := http.Get("http://" + s.ops + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --pprof: %s, want 404", resp.Status)
	}
}

// --pprof serves the profiles on the operations port, --access-log=off
// writes no access log.
func TestServePprofAndAccessLogOff(t *testing.T) {
	db := filepath.Join(t.TempDir(), "f.db")
	s := serveForTest(t, "--db", "sqlite:"+db, "--pprof", "--access-log", "off")
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
		resp, err := http.Get("http://" + s.ops + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
	posKey(t, s, db)
	if strings.Contains(s.logs.String(), "msg=rpc ") {
		t.Errorf("access log with --access-log=off:\n%s", s.logs.String())
	}
}
