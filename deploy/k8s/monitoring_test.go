package k8s_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// withMonitoring renders the base with components/monitoring, as an
// overlay that opts in would (no overlay here does: the component needs
// the Prometheus operator's CRDs).
func withMonitoring(t *testing.T) []object {
	t.Helper()
	dir := t.TempDir()
	// kustomize takes relative paths only.
	rel := func(p string) string {
		a, err := filepath.Abs(p)
		if err == nil {
			a, err = filepath.Rel(dir, a)
		}
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: fidelis\n" +
		"resources:\n  - " + rel("base") + "\ncomponents:\n  - " + rel("components/monitoring") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return renderOn(t, filesys.MakeFsOnDisk(), dir)
}

// The monitoring component: a PodMonitor that scrapes the operations port
// of every Fidelis pod (a port the pods name "ops", which the
// NetworkPolicy opens to namespace monitoring), a PrometheusRule whose
// alerts all have a severity and a summary, and a dashboard ConfigMap for
// Grafana's sidecar whose every panel has a query. Every pod of a service
// also carries the plain prometheus.io annotations, at the same port.
func TestMonitoringComponent(t *testing.T) {
	objs := withMonitoring(t)
	var pm *monitoringv1.PodMonitor
	var rule *monitoringv1.PrometheusRule
	var dashboard *corev1.ConfigMap
	pods := map[string]*corev1.PodTemplateSpec{}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *monitoringv1.PodMonitor:
			pm = v
		case *monitoringv1.PrometheusRule:
			rule = v
		case *corev1.ConfigMap:
			if v.Labels["grafana_dashboard"] == "1" {
				dashboard = v
			}
		}
		if name, tmpl := podTemplate(o.obj); tmpl != nil && slices.Contains(fidelisWorkloads, strings.TrimPrefix(name, "Deployment ")) {
			pods[strings.TrimPrefix(name, "Deployment ")] = tmpl
		}
	}
	if pm == nil || rule == nil || dashboard == nil {
		t.Fatalf("PodMonitor %v, PrometheusRule %v, dashboard ConfigMap %v", pm != nil, rule != nil, dashboard != nil)
	}
	if pm.Namespace != "fidelis" || rule.Namespace != "fidelis" {
		t.Errorf("namespaces: PodMonitor %q, PrometheusRule %q", pm.Namespace, rule.Namespace)
	}

	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("PodMonitor endpoints: %+v", pm.Spec.PodMetricsEndpoints)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port == nil || *ep.Port != "ops" || ep.Path != "/metrics" {
		t.Errorf("PodMonitor scrapes port %v path %q, want ops /metrics", ep.Port, ep.Path)
	}
	if len(pods) != len(fidelisWorkloads) {
		t.Fatalf("Fidelis pods: %v", pods)
	}
	for name, tmpl := range pods {
		sel := pm.Spec.Selector
		if len(sel.MatchExpressions) != 1 || !slices.Contains(sel.MatchExpressions[0].Values, tmpl.Labels[sel.MatchExpressions[0].Key]) {
			t.Errorf("the PodMonitor does not select %s (labels %v)", name, tmpl.Labels)
		}
		var ops int32
		for _, p := range tmpl.Spec.Containers[0].Ports {
			if p.Name == "ops" {
				ops = p.ContainerPort
			}
		}
		a := tmpl.Annotations
		if ops != 8081 || a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "8081" || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: ops port %d, annotations %v", name, ops, a)
		}
		if !slices.Contains(tmpl.Spec.Containers[0].Command, "--ops-listen=:8081") {
			t.Errorf("%s does not serve the operations port on 8081: %v", name, tmpl.Spec.Containers[0].Command)
		}
	}

	alerts := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				if r.Record == "" || r.Expr.String() == "" {
					t.Errorf("group %s: a rule with neither alert nor record: %+v", g.Name, r)
				}
				continue
			}
			alerts++
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("alert %s: severity %q, want page or ticket", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s without a summary or description", r.Alert)
			}
		}
	}
	if alerts < 7 {
		t.Errorf("%d alerts, want the 4 burn-rate ones, projector lag, failing jobs and database unreachable", alerts)
	}

	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(dashboard.Data["fidelis.json"]), &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard uid %q, %d panels", d.UID, len(d.Panels))
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
}

// promtool is the path of Prometheus's promtool: the test fails without
// it in CI (.ci/run installs Debian's prometheus package) and is skipped
// elsewhere.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: CI installs it with the prometheus package (apt-get install prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	return path
}

// promtool checks the PrometheusRule's rules (syntax, PromQL, templates)
// and runs the alert tests of testdata/alerts_test.yaml against them: the
// burn-rate alerts page on a burn and stay quiet on the other SLI, the
// operations alerts fire on their made-up series.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	var rule *monitoringv1.PrometheusRule
	for _, o := range withMonitoring(t) {
		if r, ok := o.obj.(*monitoringv1.PrometheusRule); ok {
			rule = r
		}
	}
	if rule == nil {
		t.Fatal("no PrometheusRule")
	}
	rules, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests, err := os.ReadFile("testdata/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"rules.yaml": rules, "alerts_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
