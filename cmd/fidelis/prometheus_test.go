package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
)

// prometheusBinary is the path of a Prometheus server: the test fails
// without one in CI (.ci/run installs Debian's prometheus package) and is
// skipped elsewhere.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus not found: CI installs it (apt-get install prometheus)")
		}
		t.Skip("prometheus not installed (apt-get install prometheus)")
	}
	return path
}

// promQuery runs an instant query on the Prometheus at addr.
func promQuery(ctx context.Context, addr, q string) (status, errMsg string, result []struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return "", "", nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", "", nil, fmt.Errorf("%s: %w", resp.Status, err)
	}
	return body.Status, body.Error, body.Data.Result, nil
}

// A real Prometheus scrapes a real `fidelis serve`: after an earn of 250
// points over gRPC with a real API key, PromQL on Prometheus's HTTP API
// returns them from fidelis_ledger_points_earned_total, and the earn's RPC
// metric; every query of the Grafana dashboard is valid PromQL there.
func TestPrometheusScrapesServe(t *testing.T) {
	bin := prometheusBinary(t)
	db := filepath.Join(t.TempDir(), "f.db")
	s := serveForTest(t, "--db", "sqlite:"+db)
	pos := posKey(t, s, db)
	c := ledgerv1.NewLedgerServiceClient(s.conn)
	if _, err := c.Earn(bearer(pos), &ledgerv1.EarnRequest{IdempotencyKey: "earn-1", MemberId: enrol(t, c, pos).GetMember().GetMemberId(),
		Basis: &ledgerv1.EarnRequest_Points{Points: 250}, Channel: typev1.Channel_CHANNEL_POS}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: fidelis\n    static_configs:\n      - targets: [%q]\n", s.ops)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// A port the kernel chose a moment ago: Prometheus takes no ":0".
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs syncBuffer
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()

	const q = `sum(fidelis_ledger_points_earned_total{job="fidelis",programme="default",channel="pos"})`
	var last string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		st, msg, res, err := promQuery(ctx, addr, q)
		last = fmt.Sprintf("%s %s %v %v", st, msg, res, err)
		if err == nil && st == "success" && len(res) == 1 && res[0].Value[1] == "250" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s after 30 s\nprometheus:\n%s", q, last, logs.String())
		}
	}
	_, _, res, err := promQuery(ctx, addr,
		`sum(rpc_server_call_duration_seconds_count{job="fidelis",rpc_method="fidelis.ledger.v1.LedgerService/Earn",listener="public",rpc_response_status_code="OK"})`)
	if err != nil || len(res) != 1 || res[0].Value[1] != "1" {
		t.Errorf("earn calls in Prometheus: %v %v, want 1", res, err)
	}

	// The dashboard's queries parse and run (the rules' are promtool's:
	// deploy/k8s TestAlertRules).
	data, err := os.ReadFile("../../deploy/k8s/components/monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	grafana := strings.NewReplacer("$__rate_interval", "1m", "$namespace", "")
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if st, msg, _, err := promQuery(ctx, addr, grafana.Replace(tg.Expr)); err != nil || st != "success" {
				t.Errorf("dashboard panel %q: %s: %s %s %v", p.Title, tg.Expr, st, msg, err)
			}
		}
	}
}
