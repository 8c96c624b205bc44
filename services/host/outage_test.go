package host_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// While PostgreSQL cannot be reached, calls are UNAVAILABLE (reason
// DATABASE_UNAVAILABLE), never INTERNAL; readiness turns NOT_SERVING within
// seconds and back to SERVING after, liveness stays SERVING; the outage is
// logged a few times, not once per call. Clients retrying with the same
// idempotency key through the outage end with every acknowledged earn
// there exactly once.
func TestDatabaseOutage(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	px, dsn := sqldbtest.NewProxy(t, db.DSN)
	s := start(t, db, func(c *host.Config) { c.DB = dsn; c.ReadinessEvery = 200 * time.Millisecond })
	ledger := ledgerv1.NewLedgerServiceClient(s.conn(t, s.key(t, "pos", []string{"pos"})))
	const members = 8
	ids := make([]string, members)
	for i := range ids {
		r, err := ledger.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: fmt.Sprint("e", i), ProgrammeId: "test",
			ExternalRef: fmt.Sprint("CARD-OUT-", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.GetMember().GetMemberId()
	}
	health := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		r, err := s.h.Health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}

	// Each client earns 1 point per call with a new key, retrying an
	// UNAVAILABLE call with the same key until it is acknowledged.
	var acked [members]atomic.Int64
	var unavailable, other atomic.Int64
	var firstOther atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range members {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				req := &ledgerv1.EarnRequest{IdempotencyKey: fmt.Sprintf("out-%d-%d", i, n), MemberId: ids[i],
					Channel: typev1.Channel_CHANNEL_POS, Basis: &ledgerv1.EarnRequest_Points{Points: 1}}
				for {
					cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := ledger.Earn(cctx, req)
					cancel()
					if err == nil {
						acked[i].Add(1)
						break
					}
					st := status.Convert(err)
					if st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded {
						unavailable.Add(1)
						time.Sleep(20 * time.Millisecond)
						continue
					}
					other.Add(1)
					firstOther.CompareAndSwap(nil, err.Error())
					return
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if health("") != healthpb.HealthCheckResponse_SERVING {
		t.Fatal("not ready before the outage")
	}

	px.Cut(true)
	cutAt := time.Now()
	// A call made now is refused as retryable, with its reason.
	_, err := ledger.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: "during", MemberId: ids[0], Channel: typev1.Channel_CHANNEL_POS,
		Basis: &ledgerv1.EarnRequest_Points{Points: 1}})
	if st := status.Convert(err); st.Code() != codes.Unavailable || reasonOf(st) != string(fault.DatabaseUnavailable) {
		t.Errorf("earn during the outage: %v (reason %q), want UNAVAILABLE with reason DATABASE_UNAVAILABLE", err, reasonOf(st))
	}
	for health("") != healthpb.HealthCheckResponse_NOT_SERVING {
		if time.Since(cutAt) > 5*time.Second {
			t.Fatal("still SERVING 5 s into the outage")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("NOT_SERVING %v after the cut", time.Since(cutAt).Round(time.Millisecond))
	if got := health(host.LivenessService); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("liveness %v during the outage, want SERVING", got)
	}
	time.Sleep(2 * time.Second)

	px.Cut(false)
	restoredAt := time.Now()
	for health("") != healthpb.HealthCheckResponse_SERVING {
		if time.Since(restoredAt) > 5*time.Second {
			t.Fatal("not SERVING 5 s after the database came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("SERVING %v after the restore", time.Since(restoredAt).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := other.Load(); n > 0 {
		t.Fatalf("%d calls failed otherwise than UNAVAILABLE, first: %v\n%s", n, firstOther.Load(), errorLog(s.logs.Bytes()))
	}
	if unavailable.Load() == 0 {
		t.Error("no call saw the outage")
	}
	// The "during" call was refused, not written: nothing under its key.
	total := int64(0)
	for i := range members {
		b, err := ledger.GetBalance(ctx(t), &ledgerv1.GetBalanceRequest{MemberId: ids[i]})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.GetBalance().GetAvailable(); got != acked[i].Load() {
			t.Errorf("member %d: balance %d, %d earns acknowledged", i, got, acked[i].Load())
		}
		total += acked[i].Load()
	}
	cfg, err := config.Load(s.programmes)
	if err != nil {
		t.Fatal(err)
	}
	ledgertest.CheckInvariants(t, db, cfg)
	errorLines := strings.Count(string(s.logs.Bytes()), "level=ERROR")
	t.Logf("%d earns acknowledged, %d UNAVAILABLE retried, %d ERROR log lines", total, unavailable.Load(), errorLines)
	if errorLines > 10 {
		t.Errorf("%d ERROR lines for one outage of ~2 s, want a few:\n%s", errorLines, s.logs.Bytes())
	}
}

// reasonOf is the reason of st's ErrorInfo, "" without one.
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// errorLog is the ERROR lines of a log.
func errorLog(b []byte) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
