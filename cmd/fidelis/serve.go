package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/host"
)

type serveFlags struct {
	commonFlags
	listen       string
	httpListen   string
	config       string
	services     string
	ledgerAddr   string
	rewardsAddr  string
	partnersAddr string
	otlp         string
	otlpInsecure bool
	migrate      bool
	shards       int
	maxConns     int
	maxBatch     int
	jobsEvery    time.Duration
	// The operators' token for PartnerAdminService, or its file.
	partnersAdminToken     string
	partnersAdminTokenFile string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.commonFlags.register(fs)
	fs.StringVar(&f.listen, "listen", envOr("FIDELIS_LISTEN", "127.0.0.1:8443"), "gRPC listen address (env FIDELIS_LISTEN)")
	fs.StringVar(&f.httpListen, "http-listen", envOr("FIDELIS_HTTP_LISTEN", "127.0.0.1:8080"),
		"HTTP listen address for /healthz and the web pages; empty disables it (env FIDELIS_HTTP_LISTEN)")
	fs.StringVar(&f.config, "config", envOr("FIDELIS_CONFIG", ""), "programme configuration file (env FIDELIS_CONFIG; default: built in)")
	fs.StringVar(&f.services, "services", envOr("FIDELIS_SERVICES", "all"),
		"services to run, comma-separated: "+strings.Join(host.AllServices(), ", ")+", or all (env FIDELIS_SERVICES)")
	fs.StringVar(&f.ledgerAddr, "ledger-addr", envOr("FIDELIS_LEDGER_ADDR", ""),
		"the ledger's gRPC address, for services that call it when it runs elsewhere (env FIDELIS_LEDGER_ADDR)")
	fs.StringVar(&f.rewardsAddr, "rewards-addr", envOr("FIDELIS_REWARDS_ADDR", ""),
		"the rewards service's gRPC address, for the eligibility test when rewards runs elsewhere (env FIDELIS_REWARDS_ADDR)")
	fs.StringVar(&f.partnersAddr, "partners-addr", envOr("FIDELIS_PARTNERS_ADDR", ""),
		"the partners service's gRPC address, for the eligibility test when partners runs elsewhere (env FIDELIS_PARTNERS_ADDR)")
	fs.StringVar(&f.otlp, "otlp-endpoint", "", "OTLP/gRPC collector host:port for traces and metrics (default off, or OTEL_EXPORTER_OTLP_ENDPOINT)")
	fs.BoolVar(&f.otlpInsecure, "otlp-insecure", false, "send OTLP without TLS")
	fs.BoolVar(&f.migrate, "migrate", true, "apply schema migrations at start")
	fs.IntVar(&f.shards, "shards", 0, "concurrent ledger write transactions (default 1 on SQLite and PostgreSQL, 8 on CockroachDB)")
	fs.IntVar(&f.maxConns, "max-conns", 32, "database connection pool size (server engines)")
	fs.IntVar(&f.maxBatch, "max-batch", 64, "most requests group-committed in one ledger transaction")
	fs.DurationVar(&f.jobsEvery, "jobs-every", time.Hour,
		"how often to run tier evaluation, moments and due RFM runs; 0 disables them in this process")
	fs.StringVar(&f.partnersAdminTokenFile, "partners-admin-token-file", envOr("FIDELIS_PARTNERS_ADMIN_TOKEN_FILE", ""),
		"file holding the operators' token for PartnerAdminService, also sent by the eligibility test to partners elsewhere "+
			"(env FIDELIS_PARTNERS_ADMIN_TOKEN_FILE, or the token itself in FIDELIS_PARTNERS_ADMIN_TOKEN; "+
			"default on a SQLite file: generated into <file>.partners-admin-token)")
	f.partnersAdminToken = envOr("FIDELIS_PARTNERS_ADMIN_TOKEN", "")
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := f.logger(stderr)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	h, err := host.Start(ctx, f.host(), log)
	if err != nil {
		lis.Close()
		return err
	}
	defer h.Close()

	var httpSrv *http.Server
	if f.httpListen != "" {
		httpSrv = &http.Server{Addr: f.httpListen, Handler: h.HTTP(), ReadHeaderTimeout: 10 * time.Second}
		hl, err := net.Listen("tcp", f.httpListen)
		if err != nil {
			return fmt.Errorf("http listen: %w", err)
		}
		go func() {
			if err := httpSrv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server", slog.Any("error", err))
			}
		}()
		log.Info("http listening", slog.String("addr", hl.Addr().String()))
	}

	errc := make(chan error, 1)
	go func() { errc <- h.GRPC.Serve(lis) }()
	log.Info("fidelis serving", slog.String("grpc", lis.Addr().String()), slog.String("db", dialectOf(f.db)),
		slog.String("version", version))
	select {
	case err := <-errc:
		return fmt.Errorf("grpc serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	if !h.Stop(20 * time.Second) {
		log.Warn("graceful stop timed out; connections closed")
	}
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}
	return nil
}

func (f *serveFlags) host() host.Config {
	return host.Config{
		Services: splitList(f.services), LedgerAddr: f.ledgerAddr, RewardsAddr: f.rewardsAddr, PartnersAddr: f.partnersAddr, DB: f.db, ProgrammeConfig: f.config, Migrate: f.migrate, OTLPEndpoint: f.otlp, OTLPInsecure: f.otlpInsecure,
		Shards: f.shards, MaxBatch: f.maxBatch, MaxConns: f.maxConns, JobsEvery: f.jobsEvery, Version: version,
		PartnersAdminToken: f.partnersAdminToken, PartnersAdminTokenFile: f.partnersAdminTokenFile,
	}
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func dialectOf(dsn string) string {
	if i := strings.Index(dsn, ":"); i > 0 {
		return dsn[:i]
	}
	return dsn
}

func migrate(ctx context.Context, args []string, stderr io.Writer) error {
	var c commonFlags
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	services := fs.String("services", envOr("FIDELIS_SERVICES", "all"), "services whose schemas to migrate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	if err := host.Migrate(ctx, c.db, splitList(*services), log); err != nil {
		return err
	}
	log.Info("schema up to date", slog.String("db", dialectOf(c.db)))
	return nil
}
