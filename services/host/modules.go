package host

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/grpc"

	accessapp "github.com/fidelis-loyalty/fidelis/services/access/app"
	accessapi "github.com/fidelis-loyalty/fidelis/services/access/grpcapi"
	accessstore "github.com/fidelis-loyalty/fidelis/services/access/store"
	eligibilityadapters "github.com/fidelis-loyalty/fidelis/services/eligibility/adapters"
	eligibilityapp "github.com/fidelis-loyalty/fidelis/services/eligibility/app"
	eligibilityapi "github.com/fidelis-loyalty/fidelis/services/eligibility/grpcapi"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger"
	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
	ledgerstore "github.com/fidelis-loyalty/fidelis/services/ledger/store"
	partnersadapters "github.com/fidelis-loyalty/fidelis/services/partners/adapters"
	partnersapp "github.com/fidelis-loyalty/fidelis/services/partners/app"
	partnersapi "github.com/fidelis-loyalty/fidelis/services/partners/grpcapi"
	partnersstore "github.com/fidelis-loyalty/fidelis/services/partners/store"
	rewardsadapters "github.com/fidelis-loyalty/fidelis/services/rewards/adapters"
	rewardsapp "github.com/fidelis-loyalty/fidelis/services/rewards/app"
	rewardsapi "github.com/fidelis-loyalty/fidelis/services/rewards/grpcapi"
	rewardsstore "github.com/fidelis-loyalty/fidelis/services/rewards/store"
)

// A module is one service a process can run: its schema, how it is built
// from what the process has, the gRPC services it registers and its
// background jobs. Start takes the chosen modules in this order, each
// built after those it calls.
type module struct {
	name    string
	migrate func(ctx context.Context, db *sqldb.DB, log *slog.Logger) error
	// schema is what migrate brings up to date: what a process that does
	// not migrate waits for.
	schema func() sqldb.Schema
	// build makes the service; it sets its field of the Host.
	build func(ctx context.Context, e *startup) error
	// register adds its gRPC services to a server and returns their names.
	register func(srv grpc.ServiceRegistrar) []string
	// jobs are its background loops, each run until ctx ends.
	jobs func(c Config) []job
}

// startup is what a module is built from.
type startup struct {
	c   Config
	db  *sqldb.DB
	log *slog.Logger
	d   *dialer
}

// modules are the modules of a process running services, access control
// first (every process runs it: callers authenticate against it).
func (h *Host) modules(services []string) []module {
	all := []module{
		{
			name:    "access",
			schema:  accessstore.Schema,
			migrate: accessstore.Migrate, // the partners' migrations move their keys here: it goes first
			build:   h.buildAccess,
			register: func(srv grpc.ServiceRegistrar) []string {
				accessapi.Register(srv, h.Access)
				return []string{accessapi.ServiceName}
			},
			jobs: func(Config) []job {
				return []job{
					replicaJob(h.Access.RunAuditLog), // writes this replica's queue
					clusterJob("access-key-purge", func(ctx context.Context) { h.Access.RunKeyPurge(ctx, keyPurgeEvery) }),
				}
			},
		},
		{
			name: Ledger, schema: ledgerstore.Schema, migrate: ledgerstore.Migrate, build: h.buildLedger,
			register: func(srv grpc.ServiceRegistrar) []string {
				h.Ledger.Register(srv)
				return ledger.ServiceNames()
			},
			jobs: func(c Config) []job {
				jobs := []job{
					clusterJob("ledger-projector", func(ctx context.Context) { h.Ledger.Status.RunProjector(ctx, 500*time.Millisecond) }),
					clusterJob("ledger-key-purge", func(ctx context.Context) { h.Ledger.Posting.RunKeyPurge(ctx, keyPurgeEvery) }),
				}
				if c.JobsEvery > 0 {
					jobs = append(jobs, clusterJob("ledger-scheduler", func(ctx context.Context) { h.Ledger.RunScheduler(ctx, c.JobsEvery) }),
						// With the time-driven jobs: at start, then hourly.
						clusterJob("ledger-pii-migration", h.Ledger.MigratePlaintext))
				}
				return jobs
			},
		},
		{
			name: Rewards, schema: rewardsstore.Schema, migrate: rewardsstore.Migrate, build: h.buildRewards,
			register: func(srv grpc.ServiceRegistrar) []string {
				rewardsapi.Register(srv, h.Rewards, nil)
				return []string{rewardsapi.ServiceName}
			},
			jobs: func(Config) []job {
				return []job{
					clusterJob("rewards-recovery", func(ctx context.Context) { h.Rewards.RunRecovery(ctx, time.Minute) }),
					clusterJob("rewards-key-purge", func(ctx context.Context) { h.Rewards.RunKeyPurge(ctx, keyPurgeEvery) }),
				}
			},
		},
		{
			name: Partners, schema: partnersstore.Schema, migrate: partnersstore.Migrate, build: h.buildPartners,
			register: func(srv grpc.ServiceRegistrar) []string {
				partnersapi.Register(srv, h.Partners)
				return []string{partnersapi.ServiceName, partnersapi.AdminServiceName}
			},
			jobs: func(Config) []job {
				return []job{
					clusterJob("partners-recovery", func(ctx context.Context) { h.Partners.RunRecovery(ctx, time.Minute) }),
					clusterJob("partners-key-purge", func(ctx context.Context) { h.Partners.RunKeyPurge(ctx, keyPurgeEvery) }),
				}
			},
		},
		{
			name: Eligibility, build: h.buildEligibility,
			register: func(srv grpc.ServiceRegistrar) []string {
				eligibilityapi.Register(srv, h.Eligibility)
				return []string{eligibilityapi.ServiceName}
			},
		},
	}
	var out []module
	for _, m := range all {
		if m.name == "access" || slices.Contains(services, m.name) {
			out = append(out, m)
		}
	}
	return out
}

func (h *Host) buildAccess(ctx context.Context, e *startup) error {
	h.Access = accessapp.New(accessstore.New(e.db), accessapp.Options{CacheTTL: e.c.KeyCacheTTL, Logger: e.log})
	return h.bootstrapAdmin(ctx, e.c, e.db)
}

func (h *Host) buildLedger(ctx context.Context, e *startup) error {
	cfg, err := config.Load(e.c.ProgrammeConfig)
	if err != nil {
		return err
	}
	shards := e.c.Shards
	if shards <= 0 {
		shards = defaultShards(e.db.Dialect)
	}
	keys, err := h.masterKeys(ctx, e.c, e.db)
	if err != nil {
		return err
	}
	if h.Ledger, err = ledger.New(e.db, cfg, ledger.Options{Shards: shards, MaxBatch: e.c.MaxBatch, Logger: e.log, Meter: e.d.tel.Meter,
		Tracer: e.d.tel.Tracer, Keys: keys}); err != nil {
		return err
	}
	h.onClose(h.Ledger.Close) // runs before the database closes: every acknowledged request is committed
	return nil
}

// ledgerConn connects a service that calls the ledger, as who.
func (h *Host) ledgerConn(e *startup, who string) (*grpc.ClientConn, error) {
	if h.Ledger == nil && e.c.LedgerAddr == "" {
		return nil, errors.New("rewards, partners and eligibility need the ledger: run it here too, or give its address")
	}
	return e.d.dial(who, h.Ledger != nil, e.c.LedgerAddr)
}

func (h *Host) buildRewards(ctx context.Context, e *startup) error {
	conn, err := h.ledgerConn(e, "fidelis-rewards")
	if err != nil {
		return err
	}
	h.Rewards = rewardsapp.New(rewardsstore.New(e.db), rewardsadapters.NewLedger(conn), rewardsapp.Options{Logger: e.log})
	return nil
}

func (h *Host) buildPartners(ctx context.Context, e *startup) error {
	conn, err := h.ledgerConn(e, "fidelis-partners")
	if err != nil {
		return err
	}
	keys, audit := partnersadapters.NewAccess(h.Access)
	h.Partners = partnersapp.New(partnersstore.New(e.db), partnersadapters.NewLedger(conn), keys, audit, partnersapp.Options{Logger: e.log})
	return nil
}

// buildEligibility reads the ledger, and the rewards and partner offers
// where they run (here, or at their address).
func (h *Host) buildEligibility(ctx context.Context, e *startup) error {
	const who = "fidelis-eligibility"
	conn, err := h.ledgerConn(e, who)
	if err != nil {
		return err
	}
	src := eligibilityapp.Sources{Ledger: eligibilityadapters.NewLedger(conn)}
	if rc, err := e.d.dial(who, h.Rewards != nil, e.c.RewardsAddr); err != nil {
		return err
	} else if rc != nil {
		src.Rewards = eligibilityadapters.NewCatalogue(rc)
	}
	if pc, err := e.d.dial(who, h.Partners != nil, e.c.PartnersAddr); err != nil {
		return err
	} else if pc != nil {
		src.Partners = eligibilityadapters.NewPartnerOffers(pc)
	}
	h.Eligibility = eligibilityapp.New(src, e.log)
	// The HTTP edge calls the service through this process's own server.
	if h.self, err = grpcserver.Dial(e.d.internal, e.d.tel, nil, nil); err != nil {
		return err
	}
	h.onClose(func() { h.self.Close() })
	return nil
}

// job is a background loop of a module.
type job struct {
	// lease names the job's lease: it runs once per cluster, on the replica
	// that holds it (see services/internal/lease). Empty for a job every
	// replica runs for itself.
	lease string
	run   func(ctx context.Context)
}

// clusterJob runs once per cluster, under the named lease; its read-write
// transactions are fenced by the lease.
func clusterJob(lease string, run func(ctx context.Context)) job { return job{lease: lease, run: run} }

// replicaJob runs on every replica, for the replica's own state.
func replicaJob(run func(ctx context.Context)) job { return job{run: run} }
