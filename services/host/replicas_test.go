package host_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// Two replicas on one PostgreSQL database run the scheduled jobs once
// between them: one RFM run per programme, not one per replica; when the
// replica that runs them stops, the other takes them over.
func TestScheduledJobsOncePerCluster(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	tune := func(c *host.Config) { c.JobsEvery = 100 * time.Millisecond; c.LeaseTTL = time.Second }
	a := start(t, db, tune)
	b := start(t, db, func(c *host.Config) { tune(c); c.AdminKeyFile = a.adminKeyFile })
	runs := func() int {
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM rfm_runs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); runs() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no RFM run in 20 s")
		}
	}
	time.Sleep(time.Second) // a dozen scheduler intervals
	var distinct int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(DISTINCT programme_id) FROM rfm_runs`).Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	if n := runs(); n != distinct {
		t.Fatalf("%d RFM runs for %d programmes: the replicas both ran the scheduler", n, distinct)
	}
	holder, other := a, b
	if strings.Contains(string(b.logs.Bytes()), "lease=ledger-scheduler") {
		holder, other = b, a
	}
	if strings.Contains(string(other.logs.Bytes()), "lease=ledger-scheduler") {
		t.Fatalf("both replicas acquired the scheduler's lease:\n%s\n%s", leaseLog(a.logs.Bytes()), leaseLog(b.logs.Bytes()))
	}
	holder.h.Stop(5 * time.Second)
	holder.h.Close()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(string(other.logs.Bytes()), "lease=ledger-scheduler"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the other replica did not take the scheduler over within 5 s of the holder's stop")
		}
	}
}

// leaseLog is the lines of a log about leases.
func leaseLog(b []byte) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "lease") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
