package host_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// kill -9 of a `fidelis serve` process under load, several times, each
// time restarted on the same database: clients that retry every call with
// its idempotency key until it is acknowledged end with every request
// there exactly once (the entry each acknowledgement names, and no other),
// every balance the sum of its acknowledged earns and burns, and the
// ledger's invariants holding. On SQLite (a file) and PostgreSQL.
func TestKillUnderLoad(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("kill -9 and SIGTERM are Unix signals")
	}
	bin := buildFidelis(t)
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		killUnderLoad(t, bin, db)
	})
}

// buildFidelis builds cmd/fidelis into a temporary directory, with the race
// detector when this test has it.
func buildFidelis(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fidelis")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	began := time.Now()
	out, err := exec.Command("go", append(args, "github.com/fidelis-loyalty/fidelis/cmd/fidelis")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built fidelis (race %v) in %v", raceEnabled, time.Since(began).Round(time.Millisecond))
	return bin
}

// serveProcess is one `fidelis serve` subprocess.
type serveProcess struct {
	cmd  *exec.Cmd
	done chan error // its exit, once
}

// crashRig starts, kills and stops `fidelis serve` on one database and
// addresses, each generation's log in one buffer.
type crashRig struct {
	bin, dsn, grpc, ops string
	masterKeys          string
	logs                *lockedBuffer
	generation          int
}

// start starts a server and waits for it to be ready (GET /readyz).
func (r *crashRig) start(t *testing.T) *serveProcess {
	t.Helper()
	r.generation++
	fmt.Fprintf(r.logs, "=== fidelis serve, generation %d\n", r.generation)
	cmd := exec.Command(r.bin, "serve", "--db", r.dsn, "--master-keys", r.masterKeys, "--listen", r.grpc, "--ops-listen", r.ops, "--http-listen", "",
		"--jobs-every", "0", "--max-conns", "8", "--rate-limit", "1000000", "--rate-limit-address", "1000000", "--key-cache-ttl", "1m")
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // no-op once it exited
		<-p.done
		p.done <- nil
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + r.ops + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("fidelis serve exited: %v\n%s", err, r.logs.Bytes())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fidelis serve not ready after 30 s: %v\n%s", err, r.logs.Bytes())
		}
	}
}

// kill kills p with SIGKILL and waits for it to be gone.
func (r *crashRig) kill(t *testing.T, p *serveProcess) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-p.done
	p.done <- err
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("fidelis serve ended with %v before it was killed\n%s", err, r.logs.Bytes())
	}
}

// stop stops p with SIGTERM; it must exit cleanly.
func (r *crashRig) stop(t *testing.T, p *serveProcess) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("fidelis serve on SIGTERM: %v\n%s", err, r.logs.Bytes())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("fidelis serve still running 30 s after SIGTERM\n%s", r.logs.Bytes())
	}
}

// crashOp is one request of the load and how it ended.
type crashOp struct {
	key    string
	member int
	points int64 // > 0 earns, < 0 burns
	// entry is the entry its acknowledgement names, recorded when the
	// entry was recorded; attempts counts the calls it took; first and
	// acked are when the first call began and when the last ended; failed
	// is the error it ended with when it was not acknowledged.
	entry        string
	recorded     time.Time
	attempts     int
	first, acked time.Time
	failed       error
}

func killUnderLoad(t *testing.T, bin string, db *sqldb.DB) {
	const (
		workers = 8
		kills   = 5
	)
	t0 := time.Now()
	// Two loopback ports free a moment ago, both held until both are
	// chosen; each generation of the server listens on the same ones.
	var addrs []string
	var reserved []net.Listener
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		reserved = append(reserved, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range reserved {
		l.Close()
	}
	r := &crashRig{bin: bin, dsn: db.DSN, grpc: addrs[0], ops: addrs[1], logs: &lockedBuffer{}, masterKeys: masterKeys(t, t.TempDir())}

	out, err := exec.Command(bin, "keys", "create", "--db", db.DSN, "--principal", "pos-crash", "--roles", "pos", "--programmes", "default").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("fidelis keys create: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(out))
	setup := time.Now()
	p := r.start(t)
	t.Logf("keys create %v, first start (migrations) %v", setup.Sub(t0).Round(time.Millisecond), time.Since(setup).Round(time.Millisecond))
	conn, err := grpc.NewClient(r.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authz.KeyCredentials(key, false)),
		// Reconnect soon after a restart (grpc-go's default backoff grows
		// to 2 minutes).
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6,
			Jitter: 0.2, MaxDelay: 500 * time.Millisecond}, MinConnectTimeout: 2 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ledger := ledgerv1.NewLedgerServiceClient(conn)
	members := make([]string, workers)
	for i := range members {
		m, err := ledger.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: fmt.Sprint("kill-enrol-", i), ProgrammeId: "default",
			ExternalRef: fmt.Sprint("CARD-KILL-", i)})
		if err != nil {
			t.Fatal(err)
		}
		members[i] = m.GetMember().GetMemberId()
	}

	// call makes one attempt of op.
	call := func(op *crashOp) (*ledgerv1.Entry, error) {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if op.points > 0 {
			r, err := ledger.Earn(c, &ledgerv1.EarnRequest{IdempotencyKey: op.key, MemberId: members[op.member], Channel: typev1.Channel_CHANNEL_POS,
				Basis: &ledgerv1.EarnRequest_Points{Points: op.points}, OrderRef: op.key})
			return r.GetEntry(), err
		}
		r, err := ledger.Burn(c, &ledgerv1.BurnRequest{IdempotencyKey: op.key, MemberId: members[op.member], Channel: typev1.Channel_CHANNEL_POS,
			Points: -op.points, OrderRef: op.key})
		return r.GetEntry(), err
	}
	// Each worker earns 5 and burns 3 in turn for its member (so a burn
	// never lacks points), one request at a time, each retried with its
	// key until acknowledged.
	var (
		mu       sync.Mutex
		ops      []*crashOp
		acked    atomic.Int64
		lastAck  atomic.Int64 // UnixNano
		failures atomic.Int64
		seen     = map[codes.Code]int{} // the errors retried, by code
	)
	// stop ends the load after the request each worker is on; abort (on a
	// failure of the test) ends it at once.
	stop, abort := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				op := &crashOp{key: fmt.Sprintf("kill-%d-%d", w, n), member: w, points: 5, first: time.Now()}
				if n%2 == 1 {
					op.points = -3
				}
				mu.Lock()
				ops = append(ops, op)
				mu.Unlock()
				for {
					op.attempts++
					e, err := call(op)
					if err == nil {
						op.entry, op.recorded, op.acked = e.GetEntryId(), e.GetRecordedAt().AsTime(), time.Now()
						acked.Add(1)
						lastAck.Store(time.Now().UnixNano())
						break
					}
					c := status.Code(err)
					mu.Lock()
					seen[c]++
					mu.Unlock()
					if c != codes.Unavailable && c != codes.DeadlineExceeded || time.Since(op.first) > 45*time.Second {
						op.failed = err
						failures.Add(1)
						return
					}
					select {
					case <-abort:
						op.failed = errors.New("aborted")
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
		})
	}
	defer func() {
		close(abort)
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	began := time.Now()
	var killedAt []time.Time
	var downtimes, recoveries []time.Duration
	for k := range kills {
		// Let the load run on this generation: some acknowledgements, then
		// a moment more at random, so that the kill finds calls in flight.
		from := acked.Load()
		for wait := time.Now().Add(20 * time.Second); acked.Load() < from+100; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(wait) || failures.Load() > 0 {
				break
			}
		}
		time.Sleep(time.Duration(50+rand.IntN(450)) * time.Millisecond)
		if failures.Load() > 0 {
			break
		}
		r.kill(t, p)
		at := time.Now()
		killedAt = append(killedAt, at)
		p = r.start(t)
		downtimes = append(downtimes, time.Since(at))
		for wait := time.Now().Add(20 * time.Second); lastAck.Load() < at.UnixNano(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(wait) {
				t.Fatalf("kill %d: no call acknowledged 20 s after the restart\n%s", k+1, r.logs.Bytes())
			}
		}
		recoveries = append(recoveries, time.Duration(lastAck.Load()-at.UnixNano()))
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	loadFor := time.Since(began)

	// How each request ended.
	var earned, burned [workers]int64
	var retried, replayed int
	for _, op := range ops {
		if op.failed != nil {
			t.Fatalf("%s failed: %v\n%s", op.key, op.failed, r.logs.Bytes())
		}
		if op.points > 0 {
			earned[op.member] += op.points
		} else {
			burned[op.member] -= op.points
		}
		if op.attempts > 1 {
			retried++
		}
		for _, at := range killedAt {
			// Written by the process killed, acknowledged by a successor:
			// the retry found it under its key.
			if op.first.Before(at) && op.acked.After(at) && op.recorded.Before(at) {
				replayed++
				break
			}
		}
	}
	if retried == 0 {
		t.Errorf("no request was in flight at a kill: the test tests nothing")
	}
	for i, id := range members {
		b, err := ledger.GetBalance(ctx(t), &ledgerv1.GetBalanceRequest{MemberId: id})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := b.GetBalance().GetAvailable(), earned[i]-burned[i]; got != want {
			t.Errorf("member %d: available %d, want %d (earned %d, burned %d)", i, got, want, earned[i], burned[i])
		}
	}
	stopping := time.Now()
	r.stop(t, p)
	t.Logf("stopped in %v", time.Since(stopping).Round(time.Millisecond))
	if logs := string(r.logs.Bytes()); strings.Contains(logs, "DATA RACE") || strings.Contains(logs, "panic:") {
		t.Fatalf("fidelis serve raced or panicked:\n%s", logs)
	}

	// Every request exactly once: the entry its acknowledgement names, no
	// other.
	rows, err := db.QueryContext(ctx(t), `SELECT order_ref, entry_id FROM ledger_entries WHERE order_ref LIKE 'kill-%'`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string][]string{}
	for rows.Next() {
		var ref, entry string
		if err := rows.Scan(&ref, &entry); err != nil {
			t.Fatal(err)
		}
		stored[ref] = append(stored[ref], entry)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if got := stored[op.key]; len(got) != 1 || got[0] != op.entry {
			t.Errorf("%s: entries %v, want exactly the acknowledged %s", op.key, got, op.entry)
		}
		delete(stored, op.key)
	}
	for ref, entries := range stored {
		t.Errorf("entries %v under %s, a request never made", entries, ref)
	}
	var total int
	if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM ledger_entries`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != len(ops) {
		t.Errorf("%d entries in the ledger, %d requests acknowledged", total, len(ops))
	}
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	ledgertest.CheckInvariants(t, db, cfg)
	t.Logf("%d requests acknowledged (each exactly once) in %v of load by %d clients across %d kill -9; %d were retried, "+
		"%d of them written by a killed process and answered from its key by the next; calls failed %v; restart to ready %v, "+
		"kill to the next acknowledgement %v", len(ops), loadFor.Round(time.Millisecond), workers, len(killedAt), retried, replayed, seen,
		roundAll(downtimes), roundAll(recoveries))
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
