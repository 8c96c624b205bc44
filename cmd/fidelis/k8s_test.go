package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// rendered is the dev overlay as kubectl apply -k renders it.
type rendered struct {
	deployments map[string]*appsv1.Deployment
	jobs        map[string]*batchv1.Job
	configMaps  map[string]map[string]string
	secrets     map[string]map[string]string
}

func renderDev(t *testing.T) rendered {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../deploy/k8s/overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	r := rendered{map[string]*appsv1.Deployment{}, map[string]*batchv1.Job{}, map[string]map[string]string{}, map[string]map[string]string{}}
	for _, res := range m.Resources() {
		fields, err := res.Map()
		if err != nil {
			t.Fatal(err)
		}
		from := func(into any) {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(fields, into); err != nil {
				t.Fatalf("%s: %v", res.CurId(), err)
			}
		}
		switch res.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			from(&d)
			r.deployments[d.Name] = &d
		case "Job":
			var j batchv1.Job
			from(&j)
			r.jobs[j.Name] = &j
		case "ConfigMap":
			var c corev1.ConfigMap
			from(&c)
			r.configMaps[c.Name] = c.Data
		case "Secret":
			var s corev1.Secret
			from(&s)
			data := map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			for k, v := range s.StringData {
				data[k] = v
			}
			r.secrets[s.Name] = data
		}
	}
	return r
}

// container is what the kubelet would run: argv and environment, with the
// volumes written to temporary directories in place of their mount paths
// and the ports given moved to free loopback ones.
type container struct {
	argv []string
	env  map[string]string
}

func (r rendered) container(t *testing.T, pod *corev1.PodSpec, secretValue func(name, key string) string, addrs map[string]string) container {
	t.Helper()
	c := pod.Containers[0]
	mounts := map[string]string{} // mount path: directory
	for _, vm := range c.VolumeMounts {
		dir := t.TempDir()
		mounts[vm.MountPath] = dir
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			t.Fatalf("volume %s not found", vm.Name)
		}
		v := pod.Volumes[i]
		var data map[string]string
		var items []corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			data, items = r.configMaps[v.ConfigMap.Name], v.ConfigMap.Items
		case v.Secret != nil:
			data, items = r.secrets[v.Secret.SecretName], v.Secret.Items
			if data == nil && (v.Secret.Optional == nil || !*v.Secret.Optional) {
				t.Fatalf("Secret %s is not in the overlay", v.Secret.SecretName)
			}
		}
		for _, it := range items {
			if val, ok := data[it.Key]; ok {
				if err := os.WriteFile(filepath.Join(dir, it.Path), []byte(val), 0o400); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	paths := make([]string, 0, len(mounts))
	for p := range mounts {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, func(a, b string) int { return len(b) - len(a) }) // longest first
	rewrite := func(s string) string {
		for _, p := range paths {
			if s == p || strings.HasPrefix(s, p+"/") {
				return mounts[p] + s[len(p):]
			}
			if i := strings.Index(s, "="+p); i >= 0 && (len(s) == i+1+len(p) || s[i+1+len(p)] == '/') {
				return s[:i+1] + mounts[p] + s[i+1+len(p):]
			}
		}
		for from, to := range addrs {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}
	out := container{env: map[string]string{}}
	for _, a := range append(slices.Clone(c.Command[1:]), c.Args...) { // without the binary's name
		out.argv = append(out.argv, rewrite(a))
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			val := e.Value
			for k, v := range out.env {
				val = strings.ReplaceAll(val, "$("+k+")", v)
			}
			out.env[e.Name] = rewrite(val)
		case e.ValueFrom.SecretKeyRef != nil:
			out.env[e.Name] = secretValue(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		case e.ValueFrom.FieldRef != nil:
			out.env[e.Name] = "fidelis"
		}
	}
	return out
}

// run runs the container's fidelis command in this process with its
// environment, until ctx ends.
func (c container) run(ctx context.Context, t *testing.T, log io.Writer) <-chan error {
	t.Helper()
	for k, v := range c.env {
		t.Setenv(k, v) // flags read their defaults when the command registers them
	}
	done := make(chan error, 1)
	registered := make(chan struct{})
	go func() {
		w := &signalWriter{w: log, first: registered}
		done <- run(ctx, c.argv, io.Discard, w)
	}()
	select { // the command has parsed its flags once it logs
	case <-registered:
	case err := <-done:
		done <- err
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not start", c.argv)
	}
	for k := range c.env {
		os.Unsetenv(k)
	}
	return done
}

// signalWriter closes first on the first write.
type signalWriter struct {
	w     io.Writer
	first chan struct{}
	once  sync.Once
}

func (s *signalWriter) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.first) })
	return s.w.Write(p)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// postgresSchema is a fresh schema of the test PostgreSQL
// (FIDELIS_TEST_POSTGRES), dropped at the end: a connection as its owner,
// the owner's DSN that uses it, and its name. Without PostgreSQL the test
// is skipped, unless CI=true.
func postgresSchema(ctx context.Context, t *testing.T) (*sql.DB, string, string) {
	t.Helper()
	base := os.Getenv("FIDELIS_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", base)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI and unreachable at %s: %v", base, err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set CI=true to make this a failure", err)
	}
	schema := fmt.Sprintf("t_k8s_%d", time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(c, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return db, u.String(), schema
}

// The dev overlay's commands and environment, run as written on
// PostgreSQL: the migrate Job as the schema owner, then the four services
// under a role holding only deploy/k8s/sql/grants.sql, started before the
// grants exist (they wait), and then serving, each other included.
func TestManifestsRunUnderRuntimeRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	owner, ownerDSN, schema := postgresSchema(ctx, t)
	u, err := url.Parse(ownerDSN)
	if err != nil {
		t.Fatal(err)
	}
	role := fmt.Sprintf("fidelis_app_k8s_%d", time.Now().UnixNano())
	exec := func(q string) {
		t.Helper()
		if _, err := owner.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.80s: %v", q, err)
		}
	}
	exec(`CREATE ROLE ` + role + ` LOGIN`)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = owner.ExecContext(c, `DROP OWNED BY `+role)
		_, _ = owner.ExecContext(c, `DROP ROLE `+role)
	})
	exec(`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role)
	u.User = url.User(role)
	runtimeDSN := u.String()

	r := renderDev(t)
	secret := func(name, key string) string {
		if name == "fidelis-db" {
			return map[string]string{"dsn": runtimeDSN, "migrate-dsn": ownerDSN}[key]
		}
		return r.secrets[name][key]
	}
	// Each service's ports, moved to free loopback ones.
	services := []string{"ledger", "rewards", "partners", "eligibility"}
	grpcAddr, opsAddr, httpAddr := map[string]string{}, map[string]string{}, map[string]string{}
	addrs := map[string]map[string]string{}
	for _, s := range services {
		grpcAddr[s], opsAddr[s], httpAddr[s] = freeAddr(t), freeAddr(t), freeAddr(t)
	}
	for _, s := range services {
		m := map[string]string{"--listen=:8443": "--listen=" + grpcAddr[s], "--ops-listen=:8081": "--ops-listen=" + opsAddr[s],
			"--http-listen=:8080": "--http-listen=" + httpAddr[s]}
		for _, o := range services {
			m[o+".fidelis.svc:8443"] = grpcAddr[o]
		}
		addrs[s] = m
	}

	// The services first, before the migrations and the grants: they wait.
	logs := map[string]*syncBuffer{}
	var dones []<-chan error
	var stops []context.CancelFunc
	for _, s := range services {
		d := r.deployments[s]
		if d == nil {
			t.Fatalf("no Deployment %s", s)
		}
		c := r.container(t, &d.Spec.Template.Spec, secret, addrs[s])
		if !slices.Contains(c.argv, "--migrate=false") {
			t.Fatalf("%s runs %q", s, c.argv)
		}
		sctx, stop := context.WithCancel(ctx)
		logs[s] = &syncBuffer{}
		dones = append(dones, c.run(sctx, t, logs[s]))
		stops = append(stops, stop)
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		for i, done := range dones {
			if err := <-done; err != nil {
				t.Errorf("%s: %v\n%s", services[i], err, logs[services[i]])
			}
		}
	}()
	time.Sleep(time.Second)
	for _, s := range services {
		if !strings.Contains(logs[s].String(), "waiting for the schema migrations") {
			t.Errorf("%s does not wait for the schema:\n%s", s, logs[s])
		}
	}

	// The migrate Job, as the owner; then the grants.
	job := r.jobs["fidelis-migrate"]
	if job == nil {
		t.Fatal("no Job fidelis-migrate")
	}
	mig := r.container(t, &job.Spec.Template.Spec, secret, nil)
	migLog := &syncBuffer{}
	if err := <-mig.run(ctx, t, migLog); err != nil {
		t.Fatalf("fidelis-migrate %q: %v\n%s", mig.argv, err, migLog)
	}
	grants, err := os.ReadFile("../../deploy/k8s/sql/grants.sql")
	if err != nil {
		t.Fatal(err)
	}
	inSchema, err := sql.Open("pgx", ownerDSN) // unqualified names: the test's schema
	if err != nil {
		t.Fatal(err)
	}
	defer inSchema.Close()
	if _, err := inSchema.ExecContext(ctx, strings.ReplaceAll(string(grants), " fidelis_app;", " "+role+";")); err != nil {
		t.Fatalf("grants.sql: %v", err)
	}

	// Every service becomes ready on its operations port.
	for _, s := range services {
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get("http://" + opsAddr[s] + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is not ready: %v\n%s", s, err, logs[s])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Eligibility's self-test reads the ledger, rewards and partners with
	// its service key, and they check the keys in the database.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr["eligibility"]+"/api/v1/eligibility/self-test",
		strings.NewReader(`{"programme_id":"default"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.secrets["fidelis-admin-key"]["key"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// 200, or 400 for the answers the programme's data leaves open (with
	// no member and no sale yet): either way it read the other services.
	// Refused keys (401, 403) or a failed read (5xx) are failures.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("self-test: %s %s", resp.Status, body)
	}
	for _, s := range services {
		for _, line := range strings.Split(logs[s].String(), "\n") {
			if strings.Contains(line, "level=ERROR") || (strings.Contains(line, "permission denied") && !strings.Contains(line, "waiting for the schema")) {
				t.Errorf("%s: %s", s, line)
			}
		}
	}
}
