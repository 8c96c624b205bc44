package k8s_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// cockroachRelease is the CockroachDB release the manifests run: a
// Regular release, supported until 2027-04-27 (see deploy/k8s/README.md).
const cockroachRelease = "cockroachdb/cockroach:v26.2.0"

// stubCockroach writes a cockroach binary that prints its arguments, and
// what it reads on stdin for `cockroach sql` without --execute, and
// returns the script with /cockroach/cockroach replaced by it.
func stubCockroach(t *testing.T, script string) string {
	t.Helper()
	stub := filepath.Join(t.TempDir(), "cockroach")
	if err := os.WriteFile(stub, []byte("#!/bin/bash\necho \"ARGS: $*\"\nif [ \"$*\" = sql ]; then cat; fi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(script, "/cockroach/cockroach", stub)
}

// run runs a container's bash script with env, as the kubelet would, and
// returns what it printed.
func run(t *testing.T, c corev1.Container, env ...string) string {
	t.Helper()
	if len(c.Command) != 3 || c.Command[0] != "/bin/bash" {
		t.Fatalf("%s: command %q, want /bin/bash -c SCRIPT", c.Name, c.Command)
	}
	cmd := exec.Command("bash", c.Command[1], stubCockroach(t, c.Command[2]))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", c.Name, err, out)
	}
	return string(out)
}

// The CockroachDB nodes run the pinned release with a locality from the
// node's zone and region, when the pod has them; the bootstrap Job sets
// the licence and creates the backup schedule when their Secrets are
// there, quoting what it reads, and says so when they are not.
func TestCockroachManifests(t *testing.T) {
	var nodes *appsv1.StatefulSet
	var init *batchv1.Job
	for _, o := range render(t, "base") {
		switch v := o.obj.(type) {
		case *appsv1.StatefulSet:
			if v.Name == "cockroachdb" {
				nodes = v
			}
		case *batchv1.Job:
			if v.Name == "cockroachdb-init" {
				init = v
			}
		}
	}
	if nodes == nil || init == nil {
		t.Fatal("no StatefulSet cockroachdb or Job cockroachdb-init in base")
	}
	for _, p := range []corev1.PodSpec{nodes.Spec.Template.Spec, init.Spec.Template.Spec} {
		for _, c := range append(p.InitContainers, p.Containers...) {
			if c.Image != cockroachRelease {
				t.Errorf("%s runs %s, want %s", c.Name, c.Image, cockroachRelease)
			}
		}
	}

	node := nodes.Spec.Template.Spec.Containers[0]
	fields := map[string]string{}
	for _, e := range node.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			fields[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if fields["ZONE"] != "metadata.labels['topology.k8s.io/zone']" || fields["REGION"] != "metadata.labels['topology.k8s.io/region']" {
		t.Errorf("ZONE and REGION come from %q and %q, want the pod's topology.k8s.io labels", fields["ZONE"], fields["REGION"])
	}
	out := run(t, node, "POD_NAME=cockroachdb-1", "REGION=eu-west-3", "ZONE=eu-west-3a")
	if !strings.Contains(out, "ARGS: start --locality=region=eu-west-3,zone=eu-west-3a ") ||
		!strings.Contains(out, "--advertise-addr=cockroachdb-1.cockroachdb.fidelis.svc:26257") {
		t.Errorf("node with a zone started with:\n%s", out)
	}
	if out := run(t, node, "POD_NAME=cockroachdb-1"); strings.Contains(out, "--locality") {
		t.Errorf("node without a zone started with a locality:\n%s", out)
	}

	job := init.Spec.Template.Spec.Containers[0]
	out = run(t, job, "INIT_HOST=n0", "ORGANIZATION=Dupont's", "LICENSE=crl-0-secret", "BACKUP_URI=s3://backups/fidelis?AUTH=implicit")
	for _, want := range []string{
		"SET CLUSTER SETTING cluster.organization = 'Dupont''s';",
		"SET CLUSTER SETTING enterprise.license = 'crl-0-secret';",
		"CREATE SCHEDULE IF NOT EXISTS fidelis_backup\n  FOR BACKUP INTO 's3://backups/fidelis?AUTH=implicit' WITH revision_history",
		"RECURRING '@hourly' FULL BACKUP '@daily'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("bootstrap with a licence and a backup URI: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "ARGS: sql --execute=SET") || strings.Contains(out, "ARGS: sql --execute=CREATE SCHEDULE") {
		t.Errorf("the licence or backup URI went in argv:\n%s", out)
	}
	out = run(t, job, "INIT_HOST=n0")
	if strings.Contains(out, "SET CLUSTER SETTING") || strings.Contains(out, "CREATE SCHEDULE") ||
		!strings.Contains(out, "no licence in Secret cockroachdb-license") || !strings.Contains(out, "no backup URI") {
		t.Errorf("bootstrap without the Secrets:\n%s", out)
	}
}
