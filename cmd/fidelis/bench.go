package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/host"
)

type benchFlags struct {
	serveFlags
	addr     string
	clients  int
	duration time.Duration
	members  int
	mix      string
	conns    int
	key      clientKey

	cpuProfile string
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f benchFlags
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.serveFlags.register(fs)
	fs.StringVar(&f.addr, "addr", "", "benchmark a running server at host:port instead of starting one on --db")
	fs.IntVar(&f.clients, "clients", 32, "concurrent clients")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to drive load")
	fs.IntVar(&f.members, "members", 1000, "members to spread the load over")
	fs.StringVar(&f.mix, "mix", "earn=80,burn=20", "operation mix in percent")
	fs.IntVar(&f.conns, "conns", 4, "gRPC connections shared by the clients")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.key.register(fs, "with --addr: the API key to call with, of a principal with the pos (or ecommerce) and service roles")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The in-process server logs only warnings: the bench owns stdout.
	f.logLevel = "warn"
	log, err := f.logger(stderr)
	if err != nil {
		return err
	}
	mix, err := parseMix(f.mix)
	if err != nil {
		return err
	}
	addr := f.addr
	if addr == "" {
		if f.db == "sqlite:fidelis.db" && os.Getenv("FIDELIS_DB") == "" {
			dir, err := os.MkdirTemp("", "fidelis-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			f.db = "sqlite:" + filepath.Join(dir, "bench.db")
		}
		// The bench's principal: enrols, earns and burns, seeds balances
		// of 100,000,000 explicit points, and is not rate limited.
		a, key, stop, err := inProcess(ctx, &f.serveFlags, log, "bench", []string{"pos", "service"})
		if err != nil {
			return err
		}
		defer stop()
		addr, f.key.key = a, key
	}
	var clients []ledgerv1.LedgerServiceClient
	for range max(f.conns, 1) {
		conn, err := f.key.dial(addr, f.peerCA)
		if err != nil {
			return err
		}
		defer conn.Close()
		clients = append(clients, ledgerv1.NewLedgerServiceClient(conn))
	}
	run := time.Now().UnixNano()
	members, err := seed(ctx, clients, f.members, run)
	if err != nil {
		return fmt.Errorf("seed members: %w", err)
	}
	target := addr
	if f.addr == "" {
		target = dialectOf(f.db) + " (in-process)"
	}
	fmt.Fprintf(stdout, "bench: %s, %d clients, %s, %d members, mix %s\n", target, f.clients, f.duration, f.members, f.mix)
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res := drive(ctx, clients, members, mix, f.clients, f.duration, run)
	res.print(stdout, f.duration)
	return nil
}

type mixEntry struct {
	op      string
	percent int
}

// inProcess starts the services on f's database and serves them on a
// loopback port, for a command that drives them over gRPC as a principal
// of its own that lives in this process only (named after the command,
// with the roles, bound to every programme, not rate limited), whose key
// it returns.
func inProcess(ctx context.Context, f *serveFlags, log *slog.Logger, command string, roles []string) (string, string, func(), error) {
	h, err := host.Start(ctx, f.host(), log)
	if err != nil {
		return "", "", nil, err
	}
	key, err := h.LocalKey("cli:"+command, roles)
	if err != nil {
		h.Close()
		return "", "", nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.Close()
		return "", "", nil, err
	}
	go func() { _ = h.GRPC.Serve(lis) }()
	return lis.Addr().String(), key, func() { h.Stop(5 * time.Second); h.Close() }, nil
}

// clientKey is the API key a command calls a server with.
type clientKey struct{ key, file string }

func (k *clientKey) register(fs *flag.FlagSet, what string) {
	fs.StringVar(&k.key, "key", envOr("FIDELIS_API_KEY", ""), what+" (env FIDELIS_API_KEY)")
	fs.StringVar(&k.file, "key-file", "", "the file holding --key")
}

// dial connects to addr with the key: over TLS when peerCA names the CA
// that signed the server's certificate, else in plaintext (loopback, or a
// mesh that encrypts).
func (k *clientKey) dial(addr, peerCA string) (*grpc.ClientConn, error) {
	if k.key == "" && k.file != "" {
		b, err := os.ReadFile(k.file)
		if err != nil {
			return nil, fmt.Errorf("--key-file: %w", err)
		}
		k.key = strings.TrimSpace(string(b))
	}
	if k.key == "" {
		return nil, errors.New("the server wants an API key: give --key or --key-file")
	}
	tc := insecure.NewCredentials()
	if peerCA != "" {
		pem, err := os.ReadFile(peerCA)
		if err != nil {
			return nil, fmt.Errorf("--peer-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--peer-ca %s: no certificate", peerCA)
		}
		tc = credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(tc), grpc.WithPerRPCCredentials(keyCredentials{k.key, peerCA != ""}))
}

// keyCredentials send an API key with every call.
type keyCredentials struct {
	key string
	tls bool
}

func (b keyCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

func (b keyCredentials) RequireTransportSecurity() bool { return b.tls }

func parseMix(s string) ([]mixEntry, error) {
	var out []mixEntry
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, pct, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(pct)
		if !ok || err != nil || n < 0 || (name != "earn" && name != "burn") {
			return nil, fmt.Errorf("--mix %q: want e.g. earn=80,burn=20", s)
		}
		out = append(out, mixEntry{name, n})
		total += n
	}
	if total != 100 {
		return nil, fmt.Errorf("--mix %q: percentages sum to %d, not 100", s, total)
	}
	return out, nil
}

// seed enrols members and gives each enough points to burn throughout.
func seed(ctx context.Context, clients []ledgerv1.LedgerServiceClient, n int, run int64) ([]string, error) {
	members := make([]string, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c := clients[i%len(clients)]
			r, err := c.EnrolMember(ctx, &ledgerv1.EnrolMemberRequest{
				IdempotencyKey: fmt.Sprintf("bench-%d-enrol-%d", run, i), ProgrammeId: "default",
				ExternalRef: fmt.Sprintf("bench-%d-%d", run, i),
			})
			if err != nil {
				errs <- err
				return
			}
			members[i] = r.GetMember().GetMemberId()
			_, err = c.Earn(ctx, &ledgerv1.EarnRequest{
				IdempotencyKey: fmt.Sprintf("bench-%d-seed-%d", run, i), MemberId: members[i],
				Basis: &ledgerv1.EarnRequest_Points{Points: 100_000_000}, Channel: typev1.Channel_CHANNEL_OPERATOR,
			})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return members, <-errs
}

type benchResult struct {
	lat    map[string][]time.Duration
	errors map[string]int
}

func drive(ctx context.Context, clients []ledgerv1.LedgerServiceClient, members []string, mix []mixEntry,
	n int, d time.Duration, run int64) *benchResult {
	// Calls do not inherit the end of the run as a deadline: a call cut off
	// by it would count as an error. The run ends when its time is up.
	end := time.Now().Add(d)
	type local struct {
		lat    map[string][]time.Duration
		errors map[string]int
	}
	locals := make([]local, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			l := local{lat: map[string][]time.Duration{}, errors: map[string]int{}}
			rng := rand.New(rand.NewPCG(uint64(run), uint64(w)))
			c := clients[w%len(clients)]
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				op := pick(mix, rng.IntN(100))
				m := members[rng.IntN(len(members))]
				k := fmt.Sprintf("bench-%d-%d-%d", run, w, i)
				start := time.Now()
				var err error
				switch op {
				case "earn":
					_, err = c.Earn(ctx, &ledgerv1.EarnRequest{
						IdempotencyKey: k, MemberId: m, Channel: typev1.Channel_CHANNEL_POS, StoreId: "bench",
						OrderRef: k, Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{
							Amount: fmt.Sprintf("%d.%02d", 5+rng.IntN(200), rng.IntN(100)), CurrencyCode: "EUR"}},
					})
				case "burn":
					_, err = c.Burn(ctx, &ledgerv1.BurnRequest{
						IdempotencyKey: k, MemberId: m, Points: int64(1 + rng.IntN(50)), Channel: typev1.Channel_CHANNEL_POS,
					})
				}
				took := time.Since(start)
				if err != nil {
					l.errors[op+": "+status.Code(err).String()]++
					continue
				}
				l.lat[op] = append(l.lat[op], took)
			}
			locals[w] = l
		})
	}
	wg.Wait()
	res := &benchResult{lat: map[string][]time.Duration{}, errors: map[string]int{}}
	for _, l := range locals {
		for op, ds := range l.lat {
			res.lat[op] = append(res.lat[op], ds...)
			res.lat["total"] = append(res.lat["total"], ds...)
		}
		for k, v := range l.errors {
			res.errors[k] += v
		}
	}
	return res
}

func pick(mix []mixEntry, r int) string {
	for _, m := range mix {
		if r < m.percent {
			return m.op
		}
		r -= m.percent
	}
	return mix[len(mix)-1].op
}

func (r *benchResult) print(w io.Writer, d time.Duration) {
	for _, op := range []string{"earn", "burn", "total"} {
		ds := r.lat[op]
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
		fmt.Fprintf(w, "%-6s n=%-8d %8.1f/s  p50=%-8s p90=%-8s p99=%-8s max=%s\n", op, len(ds),
			float64(len(ds))/d.Seconds(), round(q(0.50)), round(q(0.90)), round(q(0.99)), round(ds[len(ds)-1]))
	}
	if len(r.errors) == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(r.errors)) {
		fmt.Fprintf(w, "errors: %s x%d\n", k, r.errors[k])
	}
}

func round(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
