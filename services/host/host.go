// Package host runs Fidelis services in one process: it opens the
// database, applies migrations, sets up telemetry, access control and TLS,
// and registers the chosen services on a gRPC server. Services call each
// other through gRPC even in one process (over an internal loopback
// listener, with credentials of their own that live in this process only),
// so the boundaries stay what they are when the services run apart.
package host

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	accessapp "github.com/fidelis-loyalty/fidelis/services/access/app"
	eligibilityapp "github.com/fidelis-loyalty/fidelis/services/eligibility/app"
	eligibilityhttp "github.com/fidelis-loyalty/fidelis/services/eligibility/httpapi"
	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/certs"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/jobs"
	"github.com/fidelis-loyalty/fidelis/services/internal/lease"
	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry"
	"github.com/fidelis-loyalty/fidelis/services/ledger"
	partnersapp "github.com/fidelis-loyalty/fidelis/services/partners/app"
	rewardsapp "github.com/fidelis-loyalty/fidelis/services/rewards/app"
)

// Service names.
const (
	Ledger      = "ledger"
	Rewards     = "rewards"
	Partners    = "partners"
	Eligibility = "eligibility"
)

// AllServices are the services "all" stands for.
func AllServices() []string { return []string{Ledger, Rewards, Partners, Eligibility} }

// keyPurgeEvery is how often every replica purges the idempotency keys
// older than their retention (see idem.Retention).
const keyPurgeEvery = time.Hour

// Config says what to run and where.
type Config struct {
	// Services to run (see AllServices); empty or "all" for every one.
	Services []string
	// LedgerAddr is the ledger's gRPC address for services that call it
	// when the ledger runs elsewhere; RewardsAddr and PartnersAddr likewise
	// for the eligibility test (without them it counts no targeted actions
	// of services that do not run here).
	LedgerAddr   string
	RewardsAddr  string
	PartnersAddr string
	// DB is the database DSN (see sqldb.Open); empty for the embedded default.
	DB string
	// ProgrammeConfig is the programme configuration file; empty for the
	// built-in one.
	ProgrammeConfig string
	// Migrate applies schema migrations at start. Without it, Start waits
	// until every schema it needs is at the version of this build (see
	// SchemaWait), as a role without DDL rights must while a Job migrates.
	Migrate bool
	// SchemaWait bounds that wait (0: 5 minutes); SchemaPoll is how often
	// the versions are read meanwhile (0: every second).
	SchemaWait time.Duration
	SchemaPoll time.Duration
	// OTLPEndpoint enables trace and metric export (see telemetry.Setup).
	OTLPEndpoint string
	OTLPInsecure bool
	// Shards is the ledger's concurrent write transactions (0: 1 on SQLite
	// and PostgreSQL, 8 on CockroachDB); MaxBatch bounds a group commit.
	Shards   int
	MaxBatch int
	// MaxConns sizes the database pool of a server engine.
	MaxConns int
	// JobsEvery is how often the time-driven jobs run (tier evaluation,
	// moments, RFM when due); 0 disables them in this process.
	JobsEvery time.Duration
	Version   string

	// AdminKeyFile holds the first operator key (see AdminKeyFile()).
	AdminKeyFile string
	// MasterKeysFile is the keyring of the members' personal data (see
	// pii.ParseKeyring and MasterKeysFile()); MasterKeys, if set, is used
	// instead (tests, embedding).
	MasterKeysFile string
	MasterKeys     *pii.Keyring
	// ServiceKeyFile holds the API key (of a principal with the service
	// role) this process sends to the services it calls elsewhere
	// (LedgerAddr, RewardsAddr, PartnersAddr).
	ServiceKeyFile string
	// TLS names the certificate and key of the servers and of the dials to
	// services elsewhere (mTLS), the client CA that servers then require,
	// and the CA that verifies the services dialled. Without Cert: plaintext.
	TLS TLSFiles
	// Insecure allows plaintext dials to services that are not on loopback.
	Insecure bool
	// Exclusive claims an SQLite file for this process: a second server on
	// it is refused (see sqldb.LockServer). Servers set it; commands that
	// open the database for a moment do not.
	Exclusive bool
	// LeaseTTL is how long a job that runs once per cluster stands still
	// when the replica that runs it dies (default 15s).
	LeaseTTL time.Duration
	// ReadinessEvery is how often the database is pinged for readiness
	// (default 1s): the process is NOT_SERVING within about that long of
	// losing it.
	ReadinessEvery time.Duration
	// KeyCacheTTL bounds how long a key revoked on another replica keeps
	// working here (default 10s).
	KeyCacheTTL time.Duration
	// CallTimeout is the deadline of a call that arrives without one
	// (default 30s; see grpcserver.Options.DefaultTimeout).
	CallTimeout time.Duration
	Limits      Limits
	// AccessLog is the level of the access log, a line per call (see
	// grpcserver.Options.AccessLog); nil: none.
	AccessLog slog.Leveler
	// Pprof serves the runtime profiles (net/http/pprof) under
	// /debug/pprof/ on the operations port.
	Pprof bool
}

// TLSFiles name the PEM files of TLS (see certs.Files).
type TLSFiles = certs.Files

// Limits are the abuse limits (see authz.Limits).
type Limits = authz.Limits

// services resolves the configured service list.
func (c *Config) services() ([]string, error) {
	if len(c.Services) == 0 || slices.Contains(c.Services, "all") {
		return AllServices(), nil
	}
	for _, s := range c.Services {
		if !slices.Contains(AllServices(), s) {
			return nil, fmt.Errorf("unknown service %q (want %s or all)", s, strings.Join(AllServices(), ", "))
		}
	}
	return c.Services, nil
}

// Host is the running services.
type Host struct {
	// GRPC is the server for clients; serve it on the public listener.
	GRPC *grpcserver.Server
	// Health is the health of every server of the process (the operations
	// port's too).
	Health      *health.Server
	Access      *accessapp.Service
	Ledger      *ledger.Ledger
	Rewards     *rewardsapp.Service
	Partners    *partnersapp.Service
	Eligibility *eligibilityapp.Service
	Dialect     sqldb.Dialect
	// TLS is the servers' TLS material; nil when they serve plaintext.
	TLS *certs.Reloader
	// internal serves the calls between the services of this process, in
	// plaintext on loopback.
	internal *grpcserver.Server
	// self is a connection to this process's services, for the HTTP edge.
	self    *grpc.ClientConn
	log     *slog.Logger
	tel     *telemetry.Providers
	pprof   bool
	closers []func()
}

// defaultShards is how many ledger write transactions run at once. SQLite
// serialises writers anyway. On PostgreSQL, SERIALIZABLE tracks reads by
// page, so concurrent batches touching different members still fail each
// other; one writer that group-commits whatever queued up measured fastest
// (see docs/ARCHITECTURE.md, Performance). CockroachDB tracks conflicts by
// row.
func defaultShards(d sqldb.Dialect) int {
	if d == sqldb.Cockroach {
		return 8
	}
	return 1
}

// Start opens everything the services need and registers them.
func Start(ctx context.Context, c Config, log *slog.Logger) (h *Host, err error) {
	services, err := c.services()
	if err != nil {
		return nil, err
	}
	// Every line logged with a request's context carries its trace id.
	log = slog.New(telemetry.LogHandler(log.Handler()))
	h = &Host{log: log, pprof: c.Pprof}
	opened := h // h is nil once an error is returned
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	tel, err := telemetry.Setup(ctx, "fidelis", c.Version, c.OTLPEndpoint, c.OTLPInsecure)
	if err != nil {
		return nil, err
	}
	h.tel = tel
	h.onClose(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("telemetry shutdown", slog.Any("error", err))
		}
	})
	// Every service authenticates its callers against the keys in the
	// database, so every service opens it.
	db, err := sqldb.Open(ctx, c.DB, sqldb.Options{MaxConns: c.MaxConns, Tracer: tel.Tracer})
	if err != nil {
		return nil, err
	}
	h.Dialect = db.Dialect
	h.onClose(func() { db.Close() })
	if c.Exclusive {
		for _, name := range services {
			release, err := db.LockServer(name)
			if err != nil {
				return nil, err
			}
			h.onClose(release)
		}
	}
	mods := h.modules(services)
	if c.Migrate {
		if err := migrate(ctx, db, mods, log); err != nil {
			return nil, err
		}
	} else if err := waitSchema(ctx, db, mods, c, log); err != nil {
		return nil, err
	}
	meter := tel.Meter.Meter(meterName)
	jm, err := newJobMetrics(meter)
	if err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(jobs.WithRecorder(context.WithoutCancel(ctx), jm))
	var jobs sync.WaitGroup
	h.onClose(func() { stop(); jobs.Wait() }) // after the servers stop: their last calls are audited

	if c.TLS.Cert != "" || c.TLS.Key != "" || c.TLS.ClientCA != "" {
		if h.TLS, err = certs.Watch(bg, c.TLS, certs.Options{Logger: log}); err != nil {
			return nil, err
		}
	}
	// The internal listener carries calls between services of this process.
	internal, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("internal listener: %w", err)
	}
	h.onClose(func() { internal.Close() })
	d := &dialer{ctx: ctx, h: h, c: c, tel: tel, internal: internal.Addr().String(), process: "service:" + strings.Join(services, ".")}
	e := &startup{c: c, db: db, log: log, d: d}
	for _, m := range mods {
		if m.build != nil {
			if err := m.build(ctx, e); err != nil {
				return nil, fmt.Errorf("%s: %w", m.name, err)
			}
		}
	}

	auditor, err := newCountingAuditor(meter, h.Access)
	if err != nil {
		return nil, err
	}
	guard := authz.New(authz.Options{Auth: h.Access, Audit: auditor, Limits: c.Limits, Logger: log})
	h.Health = health.NewServer()
	opts := grpcserver.Options{Logger: log, Telemetry: tel, Guard: guard, Health: h.Health, DefaultTimeout: c.CallTimeout,
		AccessLog: c.AccessLog, Listener: "internal"}
	if h.internal, err = grpcserver.New(opts); err != nil {
		return nil, err
	}
	opts.Listener = "public"
	if h.TLS != nil {
		opts.Creds = credentials.NewTLS(h.TLS.ServerConfig())
	}
	if h.GRPC, err = grpcserver.New(opts); err != nil {
		return nil, err
	}
	leases := &lease.Runner{DB: db, Holder: holderName(), TTL: c.LeaseTTL, Log: log, Held: jm.Held}
	var serving []string
	for _, m := range mods {
		serving = append(serving, m.register(h.GRPC)...)
		m.register(h.internal)
		if m.jobs != nil {
			for _, j := range m.jobs(c) {
				if j.lease == "" {
					jobs.Go(func() { j.run(bg) })
				} else {
					jobs.Go(func() { leases.Run(bg, j.lease, j.run) })
				}
			}
		}
	}
	ready := &readiness{db: db, health: h.Health, names: append([]string{""}, serving...), log: log,
		every: c.ReadinessEvery, logEvery: 10 * time.Second}
	if ready.every <= 0 {
		ready.every = time.Second
	}
	ready.set(healthpb.HealthCheckResponse_SERVING)
	if err := instrument(tel, meter, db, ready); err != nil {
		return nil, err
	}
	h.Health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	jobs.Go(func() { ready.run(bg) })
	go func() { _ = h.internal.Serve(internal) }() // registration is over
	return h, nil
}

// dialer connects the services of this process to the services they call:
// those that run here through the internal listener, with a credential
// that exists in this process only; those elsewhere at their address, over
// TLS (or plaintext where allowed), with the service key of the process.
type dialer struct {
	ctx      context.Context
	h        *Host
	c        Config
	tel      *telemetry.Providers
	internal string
	// process names the principal of the service key, if it registers it.
	process string
	key     string
}

// dial connects as the service named who; nil when the service called
// runs nowhere known.
func (d *dialer) dial(who string, here bool, addr string) (*grpc.ClientConn, error) {
	if here {
		key, err := d.h.Access.InternalKey(principal.System(who))
		if err != nil {
			return nil, err
		}
		return d.connect(d.internal, nil, authz.ServiceCredentials(key, false))
	}
	if addr == "" {
		return nil, nil
	}
	if d.key == "" {
		if d.c.ServiceKeyFile == "" {
			return nil, fmt.Errorf("%s calls %s with a service key: give --service-key-file", who, addr)
		}
		b, err := os.ReadFile(d.c.ServiceKeyFile)
		if err != nil {
			return nil, fmt.Errorf("service key: %w", err)
		}
		// A key from a Secret (`fidelis keys generate`) is registered on
		// first use, for a principal of this process's services; one made
		// with `fidelis keys create` is there already.
		key := strings.TrimSpace(string(b))
		usable, err := d.h.Access.ImportKey(d.ctx, key, principal.System(d.process))
		if err != nil {
			return nil, fmt.Errorf("service key file %s: %w", d.c.ServiceKeyFile, err)
		}
		if !usable {
			return nil, fmt.Errorf("service key file %s: the key is revoked or has expired", d.c.ServiceKeyFile)
		}
		d.key = key
	}
	if d.h.TLS != nil {
		host, _, err := net.SplitHostPort(strings.TrimPrefix(addr, "dns:///"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
		return d.connect(addr, credentials.NewTLS(d.h.TLS.ClientConfig(host)), authz.ServiceCredentials(d.key, true))
	}
	if !d.c.Insecure && !Loopback(addr) {
		return nil, fmt.Errorf("%s would call %s in plaintext: give --tls-cert and --tls-key (and --peer-ca), or --insecure", who, addr)
	}
	return d.connect(addr, nil, authz.ServiceCredentials(d.key, false))
}

func (d *dialer) connect(addr string, tc credentials.TransportCredentials, call credentials.PerRPCCredentials) (*grpc.ClientConn, error) {
	conn, err := grpcserver.Dial(addr, d.tel, tc, call)
	if err != nil {
		return nil, err
	}
	d.h.onClose(func() { conn.Close() })
	return conn, nil
}

// Loopback tells whether a listen or dial address is on loopback only
// ("localhost:8443", "127.0.0.1:0", "[::1]:80"; not ":8443").
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(strings.TrimPrefix(addr, "dns:///"))
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *Host) onClose(f func()) { h.closers = append(h.closers, f) }

// Close releases what Start opened, last opened first. Stop the gRPC
// server first.
func (h *Host) Close() {
	for i := len(h.closers) - 1; i >= 0; i-- {
		h.closers[i]()
	}
	h.closers = nil
}

// HTTP serves, with the eligibility service, its JSON API and page (see
// eligibility/httpapi); their calls carry the request's credentials.
func (h *Host) HTTP() http.Handler {
	mux := http.NewServeMux()
	if h.Eligibility != nil {
		api := eligibilityhttp.Handler(eligibilityv1.NewEligibilityServiceClient(h.self), h.log)
		mux.Handle("/eligibility", api)
		mux.Handle("/eligibility/", api)
		mux.Handle("/api/v1/eligibility/", api)
	}
	return mux
}

// Ops serves the operations port, in plaintext, and nothing but health,
// metrics and profiles: gRPC health checks (grpc.health.v1, for kubelet's
// gRPC probes and load balancers, which have no credential and speak no
// TLS; the service "liveness" is liveness, every other name readiness),
// GET /readyz (and /healthz) and /livez, GET /metrics (the Prometheus
// exposition format), and with Config.Pprof the profiles under
// /debug/pprof/. Serve it with unencrypted HTTP/2 enabled.
func (h *Host) Ops() http.Handler {
	grpcHealth := grpcserver.NewHealthOnly(h.Health)
	mux := http.NewServeMux()
	probe := func(service string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			resp, err := h.Health.Check(r.Context(), &healthpb.HealthCheckRequest{Service: service})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				http.Error(w, "not serving", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		}
	}
	mux.HandleFunc("GET /healthz", probe("")) // readiness
	mux.HandleFunc("GET /readyz", probe(""))
	mux.HandleFunc("GET /livez", probe(LivenessService))
	mux.Handle("GET /metrics", h.tel.MetricsHandler())
	if h.pprof {
		profiles(mux)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			grpcHealth.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Stop stops the gRPC servers gracefully, forcing them after timeout.
func (h *Host) Stop(timeout time.Duration) bool {
	h.Health.Shutdown() // probes see NOT_SERVING while in-flight calls finish
	if h.Ledger != nil {
		h.Ledger.Drain() // event streams end; their clients resume elsewhere
	}
	stopped := make(chan struct{})
	go func() {
		h.GRPC.GracefulStop()
		h.internal.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
		return true
	case <-time.After(timeout):
		h.GRPC.Stop()
		h.internal.Stop()
		return false
	}
}

func migrate(ctx context.Context, db *sqldb.DB, mods []module, log *slog.Logger) error {
	if err := lease.Migrate(ctx, db, log); err != nil {
		return err
	}
	for _, m := range mods {
		if m.migrate != nil {
			if err := m.migrate(ctx, db, log); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitSchema waits until the schemas of mods (and the leases') are at
// the versions this build needs.
func waitSchema(ctx context.Context, db *sqldb.DB, mods []module, c Config, log *slog.Logger) error {
	schemas := []sqldb.Schema{lease.Schema()}
	for _, m := range mods {
		if m.schema != nil {
			schemas = append(schemas, m.schema())
		}
	}
	timeout := c.SchemaWait
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	return db.WaitSchema(ctx, schemas, timeout, c.SchemaPoll, log)
}

// Migrate brings the schemas of the given services (every one when empty)
// up to date.
func Migrate(ctx context.Context, dsn string, services []string, log *slog.Logger) error {
	c := Config{Services: services}
	svcs, err := c.services()
	if err != nil {
		return err
	}
	db, err := sqldb.Open(ctx, dsn, sqldb.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db, (&Host{}).modules(svcs), log)
}

// holderName names this process as a holder of leases: host, process id
// and a random part (a restarted process with the same pid is another).
func holderName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
}
