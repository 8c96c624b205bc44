package k8s_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// customKinds are the custom resources the manifests may use (their
// CRDs are not in k8s.io/api): checked for apiVersion, kind and name only.
var customKinds = []schema.GroupVersionKind{
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
	{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"},
}

// object is one rendered resource, decoded.
type object struct {
	gvk schema.GroupVersionKind
	obj runtime.Object
}

// render builds the kustomization in dir as `kubectl apply -k` would and
// decodes every resource strictly: an unknown or misspelt field, or a
// value of the wrong type, fails.
func render(t *testing.T, dir string) []object {
	t.Helper()
	return renderOn(t, filesys.MakeFsOnDisk(), dir)
}

func renderOn(t *testing.T, fs filesys.FileSystem, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fs, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	strict := strictDecoder(t)
	var out []object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		gvk := schema.FromAPIVersionAndKind(r.GetApiVersion(), r.GetKind())
		if slices.Contains(customKinds, gvk) {
			fields, err := r.Map()
			if err != nil {
				t.Errorf("%s: %s: %v", dir, r.CurId(), err)
			}
			u := &unstructured.Unstructured{Object: fields}
			if u.GetName() == "" {
				t.Errorf("%s: %s without a name", dir, gvk)
			}
			out = append(out, object{gvk, u})
			continue
		}
		obj, got, err := strict.Decode(y, nil, nil)
		if err != nil {
			t.Errorf("%s: %s %s: strict decoding: %v", dir, gvk.Kind, r.GetName(), err)
			continue
		}
		out = append(out, object{*got, obj})
	}
	return out
}

// strictDecoder decodes YAML into the k8s.io/api types, refusing unknown
// and duplicate fields.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme, networkingv1.AddToScheme,
		// The Prometheus operator's kinds (components/monitoring), from its
		// own Go API: decoded as strictly as the built-in ones.
		monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true})
}

// kustomizations are the base and every overlay.
func kustomizations(t *testing.T) []string {
	overlays, err := filepath.Glob("overlays/*/kustomization.yaml")
	if err != nil || len(overlays) < 2 {
		t.Fatalf("overlays: %v %v", overlays, err)
	}
	dirs := []string{"base"}
	for _, o := range overlays {
		dirs = append(dirs, filepath.Dir(o))
	}
	return dirs
}

// podTemplate is the pod a workload runs.
func podTemplate(obj runtime.Object) (string, *corev1.PodTemplateSpec) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return "Deployment " + o.Name, &o.Spec.Template
	case *appsv1.StatefulSet:
		return "StatefulSet " + o.Name, &o.Spec.Template
	case *batchv1.Job:
		return "Job " + o.Name, &o.Spec.Template
	case *batchv1.CronJob:
		return "CronJob " + o.Name, &o.Spec.JobTemplate.Spec.Template
	case *corev1.Pod:
		return "Pod " + o.Name, &corev1.PodTemplateSpec{ObjectMeta: o.ObjectMeta, Spec: o.Spec}
	}
	return "", nil
}

func TestManifests(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, dir)
			if len(objs) == 0 {
				t.Fatal("renders nothing")
			}
			pods := 0
			for _, o := range objs {
				name, tmpl := podTemplate(o.obj)
				if tmpl == nil {
					continue
				}
				pods++
				res := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &tmpl.ObjectMeta, &tmpl.Spec))
				if !res.Allowed {
					t.Errorf("%s: Pod Security restricted: %s: %s", name, res.ForbiddenReason(), res.ForbiddenDetail())
				}
			}
			if pods == 0 {
				t.Error("no workloads")
			}
			checkFidelis(t, dir, objs)
			checkNetworkPolicies(t, objs)
			if strings.Contains(dir, "prod") {
				checkTLS(t, objs)
			}
		})
	}
}

// fidelisWorkloads are the Deployments that run `fidelis serve`.
var fidelisWorkloads = []string{"ledger", "rewards", "partners", "eligibility"}

// checkFidelis checks what makes the Fidelis pods start and stop well.
func checkFidelis(t *testing.T, dir string, objs []object) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *corev1.Namespace:
			if v.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("Namespace %s does not enforce Pod Security restricted", v.Name)
			}
		case *appsv1.Deployment:
			if slices.Contains(fidelisWorkloads, v.Name) {
				seen[v.Name] = true
				checkServe(t, dir, v)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			// The ledger's writes are bound by the database: more replicas
			// add no throughput, so it has a fixed count.
			if v.Spec.ScaleTargetRef.Name == "ledger" {
				t.Errorf("HPA %s scales the ledger", v.Name)
			}
		case *batchv1.Job:
			for _, c := range v.Spec.Template.Spec.Containers {
				checkArgv(t, "Job "+v.Name, c)
			}
		}
	}
	for _, name := range fidelisWorkloads {
		if !seen[name] {
			t.Errorf("no Deployment %s", name)
		}
	}
}

// checkServe checks one service's Deployment.
func checkServe(t *testing.T, dir string, d *appsv1.Deployment) {
	t.Helper()
	what := "Deployment " + d.Name
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: want one container, got %d", what, len(spec.Containers))
	}
	c := spec.Containers[0]
	checkArgv(t, what, c)
	argv := append(slices.Clone(c.Command), c.Args...)
	if !slices.Contains(argv, "--migrate=false") {
		t.Errorf("%s: serve must run with --migrate=false (the runtime role has no DDL rights; the migrate Job migrates): %q", what, argv)
	}
	if !slices.Contains(argv, "--services="+d.Name) {
		t.Errorf("%s: runs %q, not --services=%s", what, argv, d.Name)
	}
	// Probes: the operations port, readiness (service "") and liveness
	// (service "liveness") apart; the startup probe outlasts the schema wait.
	const ops = 8081
	probe := func(name string, p *corev1.Probe, service string) {
		if p == nil || p.GRPC == nil || p.GRPC.Port != ops {
			t.Errorf("%s: %s probe is not gRPC on the operations port %d", what, name, ops)
			return
		}
		if got := ptrString(p.GRPC.Service); got != service {
			t.Errorf("%s: %s probe asks for service %q, want %q", what, name, got, service)
		}
	}
	probe("startup", c.StartupProbe, "")
	probe("readiness", c.ReadinessProbe, "")
	probe("liveness", c.LivenessProbe, "liveness")
	if p := c.StartupProbe; p != nil && int(p.PeriodSeconds)*int(p.FailureThreshold) <= 300 {
		t.Errorf("%s: the startup probe gives up after %ds, before --schema-wait's 5m", what, p.PeriodSeconds*p.FailureThreshold)
	}
	// A preStop delay, so endpoints drop the pod before it stops accepting.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
		t.Errorf("%s: no preStop sleep", what)
	} else if grace := ptrInt64(spec.TerminationGracePeriodSeconds); grace < c.Lifecycle.PreStop.Sleep.Seconds+20 {
		t.Errorf("%s: terminationGracePeriodSeconds %d leaves no 20s to drain after the %ds preStop", what, grace, c.Lifecycle.PreStop.Sleep.Seconds)
	}
	if strings.Contains(dir, "prod") && !strings.Contains(c.Image, "@sha256:") {
		t.Errorf("%s: prod image %q is not pinned by digest", what, c.Image)
	}
}

// checkNetworkPolicies checks that everything is denied by default and
// that every workload has a policy of its own that lets its flows through.
func checkNetworkPolicies(t *testing.T, objs []object) {
	t.Helper()
	var own []*networkingv1.NetworkPolicy
	deny := false
	for _, o := range objs {
		np, ok := o.obj.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		everything := len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0
		if everything && len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
			slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			deny = true
		}
		if !everything {
			own = append(own, np)
		}
	}
	if !deny {
		t.Error("no default-deny NetworkPolicy (ingress and egress)")
	}
	for _, o := range objs {
		name, tmpl := podTemplate(o.obj)
		if tmpl == nil {
			continue
		}
		found := false
		for _, np := range own {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil {
				t.Errorf("NetworkPolicy %s: %v", np.Name, err)
				continue
			}
			found = found || sel.Matches(labels.Set(tmpl.Labels))
		}
		if !found {
			t.Errorf("%s: no NetworkPolicy selects its pods beyond the defaults: it can reach nothing", name)
		}
	}
}

// checkTLS checks that the services serve and call over TLS from the
// Secret cert-manager keeps.
func checkTLS(t *testing.T, objs []object) {
	t.Helper()
	cert := false
	for _, o := range objs {
		if o.gvk.Kind == "Certificate" {
			cert = true
		}
		d, ok := o.obj.(*appsv1.Deployment)
		if !ok || !slices.Contains(fidelisWorkloads, d.Name) {
			continue
		}
		env := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value // the last one wins, as in the kubelet
		}
		if env["FIDELIS_INSECURE"] != "false" || env["FIDELIS_TLS_CERT"] == "" || env["FIDELIS_TLS_KEY"] == "" || env["FIDELIS_PEER_CA"] == "" {
			t.Errorf("Deployment %s does not serve TLS: %v", d.Name, env)
		}
		tls := false
		for _, v := range d.Spec.Template.Spec.Volumes {
			tls = tls || (v.Secret != nil && v.Secret.SecretName == "fidelis-tls")
		}
		if !tls {
			t.Errorf("Deployment %s does not mount Secret fidelis-tls", d.Name)
		}
	}
	if !cert {
		t.Error("no cert-manager Certificate")
	}
}

// checkArgv refuses credentials on the command line, where ps and the
// pod spec show them: the DSN (with its password) and keys come from the
// environment or files.
func checkArgv(t *testing.T, what string, c corev1.Container) {
	t.Helper()
	secretEnv := map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secretEnv[e.Name] = true
		}
	}
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		for name := range secretEnv {
			if strings.Contains(a, "$("+name+")") {
				t.Errorf("%s: container %s puts Secret-backed $(%s) in argv (%q): read it from the environment", what, c.Name, name, a)
			}
		}
		if strings.HasPrefix(a, "--db=") {
			t.Errorf("%s: container %s: --db in argv (%q): set FIDELIS_DB", what, c.Name, a)
		}
	}
}

func ptrString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptrInt64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// The example files that are not applied (Secrets made out of band,
// custom resources that need their operator) must still be valid.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("*/*/*.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	strict := strictDecoder(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---\n") {
			var fields map[string]any
			if err := yaml.Unmarshal([]byte(doc), &fields); err != nil {
				t.Errorf("%s document %d: %v", f, i, err)
				continue
			}
			u := &unstructured.Unstructured{Object: fields}
			if slices.Contains(customKinds, u.GroupVersionKind()) {
				continue
			}
			if _, _, err := strict.Decode([]byte(doc), nil, nil); err != nil {
				t.Errorf("%s document %d: %v", f, i, err)
			}
		}
	}
}
