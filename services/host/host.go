// Package host runs Fidelis services in one process: it opens the
// database, applies migrations, sets up telemetry, and registers the chosen
// services on one gRPC server. Services call each other through gRPC even
// in one process (over an internal loopback listener), so the boundaries
// stay what they are when the services run apart.
package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	eligibilityapp "github.com/fidelis-loyalty/fidelis/services/eligibility/app"
	eligibilityapi "github.com/fidelis-loyalty/fidelis/services/eligibility/grpcapi"
	eligibilityhttp "github.com/fidelis-loyalty/fidelis/services/eligibility/httpapi"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry"
	"github.com/fidelis-loyalty/fidelis/services/ledger"
	ledgerapp "github.com/fidelis-loyalty/fidelis/services/ledger/app"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
	ledgerapi "github.com/fidelis-loyalty/fidelis/services/ledger/grpcapi"
	ledgerstore "github.com/fidelis-loyalty/fidelis/services/ledger/store"
	partnersapp "github.com/fidelis-loyalty/fidelis/services/partners/app"
	partnersdomain "github.com/fidelis-loyalty/fidelis/services/partners/domain"
	partnersapi "github.com/fidelis-loyalty/fidelis/services/partners/grpcapi"
	partnersstore "github.com/fidelis-loyalty/fidelis/services/partners/store"
	rewardsapp "github.com/fidelis-loyalty/fidelis/services/rewards/app"
	rewardsapi "github.com/fidelis-loyalty/fidelis/services/rewards/grpcapi"
	rewardsstore "github.com/fidelis-loyalty/fidelis/services/rewards/store"
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
	// Migrate applies schema migrations at start.
	Migrate bool
	// OTLPEndpoint enables trace and metric export (see telemetry.Setup).
	OTLPEndpoint string
	OTLPInsecure bool
	// Shards is the ledger's concurrent write transactions (0: 1 on SQLite
	// and PostgreSQL, 8 on CockroachDB); MaxBatch bounds a group commit.
	Shards   int
	MaxBatch int
	// MaxConns sizes the database pool of a server engine.
	MaxConns int
	// PartnersAdminToken is the operators' token for PartnerAdminService
	// (which the eligibility test also sends to partners elsewhere), or
	// PartnersAdminTokenFile the file holding it. With neither, partners
	// running here keep a generated one beside a SQLite database file, in
	// <file>.partners-admin-token (0600); on other databases they generate
	// one known to this process only, closing the service to operators.
	PartnersAdminToken     string
	PartnersAdminTokenFile string
	// JobsEvery is how often the time-driven jobs run (tier evaluation,
	// moments, RFM when due); 0 disables them in this process.
	JobsEvery time.Duration
	Version   string
}

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
	GRPC        *grpcserver.Server
	Ledger      *ledgerapp.Service
	Rewards     *rewardsapp.Service
	Partners    *partnersapp.Service
	Eligibility *eligibilityapp.Service
	Dialect     sqldb.Dialect
	// self is a connection to this process's services, for the HTTP edge.
	self    *grpc.ClientConn
	log     *slog.Logger
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
	h = &Host{}
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
	h.onClose(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("telemetry shutdown", slog.Any("error", err))
		}
	})
	// The eligibility test keeps no data: run alone, it needs no database.
	var db *sqldb.DB
	if slices.ContainsFunc(services, func(s string) bool { return s != Eligibility }) {
		if db, err = sqldb.Open(ctx, c.DB, sqldb.Options{MaxConns: c.MaxConns}); err != nil {
			return nil, err
		}
		h.Dialect = db.Dialect
		h.onClose(func() { db.Close() })
		if c.Migrate {
			if err := migrate(ctx, db, services, log); err != nil {
				return nil, err
			}
		}
	}
	adminToken, err := partnersAdminToken(c, db, services, log)
	if err != nil {
		return nil, err
	}
	// The internal listener carries calls between services of this process.
	internal, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("internal listener: %w", err)
	}
	h.onClose(func() { internal.Close() })

	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var jobs sync.WaitGroup
	h.onClose(func() { stop(); jobs.Wait() })

	if slices.Contains(services, Ledger) {
		cfg, err := LoadProgrammes(c.ProgrammeConfig)
		if err != nil {
			return nil, err
		}
		shards := c.Shards
		if shards <= 0 {
			shards = defaultShards(db.Dialect)
		}
		h.Ledger = ledgerapp.New(ledgerstore.New(db), cfg, ledgerapp.Options{Shards: shards, MaxBatch: c.MaxBatch, Logger: log})
		h.onClose(h.Ledger.Close) // runs before the database closes: every acknowledged request is committed
	}
	// conn dials a service: here through the internal listener, elsewhere
	// at its address ("" when it runs nowhere we know).
	conns := map[string]*grpc.ClientConn{}
	conn := func(here bool, addr string) (*grpc.ClientConn, error) {
		if here {
			addr = internal.Addr().String()
		}
		if addr == "" {
			return nil, nil
		}
		if c, ok := conns[addr]; ok {
			return c, nil
		}
		c, err := grpcserver.Dial(addr, tel)
		if err != nil {
			return nil, err
		}
		h.onClose(func() { c.Close() })
		conns[addr] = c
		return c, nil
	}
	var ledgerConn *grpc.ClientConn
	if slices.Contains(services, Rewards) || slices.Contains(services, Partners) || slices.Contains(services, Eligibility) {
		if h.Ledger == nil && c.LedgerAddr == "" {
			return nil, errors.New("rewards, partners and eligibility need the ledger: run it here too, or give its address")
		}
		if ledgerConn, err = conn(h.Ledger != nil, c.LedgerAddr); err != nil {
			return nil, err
		}
	}
	ledgerClient, statusClient := ledgerv1.NewLedgerServiceClient(ledgerConn), ledgerv1.NewStatusServiceClient(ledgerConn)
	if slices.Contains(services, Rewards) {
		h.Rewards = rewardsapp.New(rewardsstore.New(db), ledgerClient, statusClient, rewardsapp.Options{Logger: log})
	}
	opts := grpcserver.Options{Logger: log, Telemetry: tel}
	if slices.Contains(services, Partners) {
		operator, err := partnersdomain.ParseOperatorToken(adminToken)
		if err != nil {
			return nil, fmt.Errorf("partners admin token: %w", err)
		}
		h.Partners = partnersapp.New(partnersstore.New(db), ledgerClient, statusClient, partnersapp.Options{Logger: log, Operator: operator})
		opts.Guards = append(opts.Guards, partnersapi.Auth(h.Partners, log))
	}
	if slices.Contains(services, Eligibility) {
		src := eligibilityapp.Sources{Ledger: ledgerClient, Kpi: ledgerv1.NewKpiServiceClient(ledgerConn)}
		rc, err := conn(h.Rewards != nil, c.RewardsAddr)
		if err != nil {
			return nil, err
		}
		if rc != nil {
			src.Rewards = rewardsv1.NewRewardsServiceClient(rc)
		}
		if h.Partners != nil || c.PartnersAddr != "" {
			// Partner offers are read from PartnerAdminService, as an operator.
			addr := c.PartnersAddr
			if h.Partners != nil {
				addr = internal.Addr().String()
			}
			if adminToken == "" {
				return nil, fmt.Errorf("the eligibility test reads partner offers at %s with the partners admin token: none given", addr)
			}
			pc, err := grpcserver.Dial(addr, tel, grpc.WithPerRPCCredentials(partnersapi.OperatorCredentials(adminToken)))
			if err != nil {
				return nil, err
			}
			h.onClose(func() { pc.Close() })
			src.Partners = partnersv1.NewPartnerAdminServiceClient(pc)
		}
		h.Eligibility = eligibilityapp.New(src, log)
		if h.self, err = conn(true, ""); err != nil {
			return nil, err
		}
	}
	h.log = log
	srv, err := grpcserver.New(opts)
	if err != nil {
		return nil, err
	}
	h.GRPC = srv
	var serving []string
	if a := h.Ledger; a != nil {
		ledgerapi.Register(srv, a, log)
		ledgerapi.RegisterStatus(srv, a, log)
		ledgerapi.RegisterKpi(srv, a, log)
		serving = append(serving, ledgerapi.ServiceName, ledgerapi.StatusServiceName, ledgerapi.KpiServiceName)
		jobs.Go(func() { a.RunProjector(bg, 500*time.Millisecond) })
		if c.JobsEvery > 0 {
			jobs.Go(func() { a.RunScheduler(bg, c.JobsEvery) })
		}
	}
	if r := h.Rewards; r != nil {
		rewardsapi.Register(srv, r, log, nil)
		serving = append(serving, rewardsapi.ServiceName)
		jobs.Go(func() { r.RunRecovery(bg, time.Minute) })
	}
	if p := h.Partners; p != nil {
		partnersapi.Register(srv, p, log)
		serving = append(serving, partnersapi.ServiceName, partnersapi.AdminServiceName)
		jobs.Go(func() { p.RunRecovery(bg, time.Minute) })
	}
	if e := h.Eligibility; e != nil {
		eligibilityapi.Register(srv, e, log)
		serving = append(serving, eligibilityapi.ServiceName)
	}
	srv.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range serving {
		srv.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	go func() { _ = srv.Serve(internal) }() // registration is over
	return h, nil
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

// HTTP serves /healthz (the gRPC health of the whole server) and, with the
// eligibility service, its JSON API and page (see eligibility/httpapi).
func (h *Host) HTTP() http.Handler {
	mux := http.NewServeMux()
	if h.Eligibility != nil {
		api := eligibilityhttp.Handler(eligibilityv1.NewEligibilityServiceClient(h.self), h.log)
		mux.Handle("/eligibility", api)
		mux.Handle("/eligibility/", api)
		mux.Handle("/api/v1/eligibility/", api)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := h.GRPC.Health.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Stop stops the gRPC server gracefully, forcing it after timeout.
func (h *Host) Stop(timeout time.Duration) bool {
	h.GRPC.Health.Shutdown() // probes see NOT_SERVING while in-flight calls finish
	if h.Ledger != nil {
		h.Ledger.Drain() // event streams end; their clients resume elsewhere
	}
	stopped := make(chan struct{})
	go func() { h.GRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
		return true
	case <-time.After(timeout):
		h.GRPC.Stop()
		return false
	}
}

// LoadProgrammes reads a programme configuration file, or the built-in one.
func LoadProgrammes(path string) (*domain.Config, error) {
	data := ledger.DefaultConfig
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read programme config: %w", err)
		}
	}
	return domain.ParseConfig(data)
}

// partnersAdminToken is the operators' token for PartnerAdminService (see
// Config.PartnersAdminToken); "" when none is given and partners do not run
// here.
func partnersAdminToken(c Config, db *sqldb.DB, services []string, log *slog.Logger) (string, error) {
	switch {
	case c.PartnersAdminToken != "" && c.PartnersAdminTokenFile != "":
		return "", errors.New("partners admin token: give the token or its file, not both")
	case c.PartnersAdminTokenFile != "":
		b, err := os.ReadFile(c.PartnersAdminTokenFile)
		if err != nil {
			return "", fmt.Errorf("partners admin token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case c.PartnersAdminToken != "" || !slices.Contains(services, Partners):
		return c.PartnersAdminToken, nil
	}
	if path, ok := strings.CutPrefix(db.DSN, "sqlite:"); ok && path != ":memory:" {
		return partnersTokenFile(path+".partners-admin-token", log)
	}
	log.Warn("no partners admin token given: PartnerAdminService takes calls from this process only")
	return partnersdomain.NewOperatorToken()
}

// partnersTokenFile reads the token kept in path, or keeps a new one there,
// readable by this user only.
func partnersTokenFile(path string, log *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		log.Info("partners admin token", slog.String("file", path))
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("partners admin token: %w", err)
	}
	token, err := partnersdomain.NewOperatorToken()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return partnersTokenFile(path, log) // another process made it meanwhile
	}
	if err != nil {
		return "", fmt.Errorf("partners admin token: %w", err)
	}
	_, err = f.WriteString(token + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("partners admin token: %w", err)
	}
	log.Info("partners admin token created", slog.String("file", path))
	return token, nil
}

func migrate(ctx context.Context, db *sqldb.DB, services []string, log *slog.Logger) error {
	if slices.Contains(services, Ledger) {
		if err := ledgerstore.Migrate(ctx, db, log); err != nil {
			return err
		}
	}
	if slices.Contains(services, Rewards) {
		if err := rewardsstore.Migrate(ctx, db, log); err != nil {
			return err
		}
	}
	if slices.Contains(services, Partners) {
		if err := partnersstore.Migrate(ctx, db, log); err != nil {
			return err
		}
	}
	return nil
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
	return migrate(ctx, db, svcs, log)
}
