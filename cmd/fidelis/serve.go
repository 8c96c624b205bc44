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
	opsListen    string
	config       string
	services     string
	ledgerAddr   string
	rewardsAddr  string
	partnersAddr string
	otlp         string
	otlpInsecure bool
	migrate      bool
	schemaWait   time.Duration
	shards       int
	maxConns     int
	maxBatch     int
	jobsEvery    time.Duration

	adminKeyFile   string
	masterKeys     string
	serviceKeyFile string
	tlsCert        string
	tlsKey         string
	clientCA       string
	peerCA         string
	insecure       bool
	keyCacheTTL    time.Duration
	ratePrincipal  float64
	rateAddress    float64
	maxStreams     int
	pprof          bool
	accessLog      string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.commonFlags.register(fs)
	fs.StringVar(&f.listen, "listen", envOr("FIDELIS_LISTEN", "127.0.0.1:8443"), "gRPC listen address (env FIDELIS_LISTEN)")
	fs.StringVar(&f.httpListen, "http-listen", envOr("FIDELIS_HTTP_LISTEN", "127.0.0.1:8080"),
		"HTTP listen address for the web page and JSON API of the eligibility test; empty disables it (env FIDELIS_HTTP_LISTEN)")
	fs.StringVar(&f.opsListen, "ops-listen", envOr("FIDELIS_OPS_LISTEN", "127.0.0.1:8081"),
		"operations port, plaintext: gRPC health checks, GET /healthz, /readyz, /livez, GET /metrics (Prometheus) and, with --pprof, /debug/pprof/; empty disables it (env FIDELIS_OPS_LISTEN)")
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
	fs.BoolVar(&f.migrate, "migrate", true, "apply schema migrations at start (false: wait for them, see --schema-wait)")
	fs.DurationVar(&f.schemaWait, "schema-wait", 5*time.Minute,
		"with --migrate=false, how long to wait at start for the schema to reach this build's version (fidelis migrate brings it there)")
	fs.IntVar(&f.shards, "shards", 0, "concurrent ledger write transactions (default 1 on SQLite and PostgreSQL, 8 on CockroachDB)")
	fs.IntVar(&f.maxConns, "max-conns", 32, "database connection pool size (server engines)")
	fs.IntVar(&f.maxBatch, "max-batch", 64, "most requests group-committed in one ledger transaction")
	fs.DurationVar(&f.jobsEvery, "jobs-every", time.Hour,
		"how often to run tier evaluation, moments and due RFM runs; 0 disables them in this process")
	fs.StringVar(&f.adminKeyFile, "admin-key-file", envOr("FIDELIS_ADMIN_KEY_FILE", ""),
		"file holding the first operator key: registered if it exists, else made (mode 0600) unless the admin principal has a key "+
			"(env FIDELIS_ADMIN_KEY_FILE; default on a SQLite file: <file>.admin-key)")
	fs.StringVar(&f.masterKeys, "master-keys", envOr("FIDELIS_MASTER_KEYS_FILE", ""),
		"keyring file of the members' personal data (master keys and lookup key; `fidelis keys master-keyring` makes one); keep it out of "+
			"the database and its backups (env FIDELIS_MASTER_KEYS_FILE; default on a SQLite file: <file>.master-keys, made at the first start; required on PostgreSQL and CockroachDB)")
	fs.StringVar(&f.serviceKeyFile, "service-key-file", envOr("FIDELIS_SERVICE_KEY_FILE", ""),
		"file holding the API key (of a principal with the service role) sent to the services called elsewhere (env FIDELIS_SERVICE_KEY_FILE)")
	fs.StringVar(&f.tlsCert, "tls-cert", envOr("FIDELIS_TLS_CERT", ""), "PEM certificate chain of the gRPC and HTTP servers, also presented to services called elsewhere; reloaded when it changes (env FIDELIS_TLS_CERT)")
	fs.StringVar(&f.tlsKey, "tls-key", envOr("FIDELIS_TLS_KEY", ""), "PEM private key of --tls-cert (env FIDELIS_TLS_KEY)")
	fs.StringVar(&f.clientCA, "client-ca", envOr("FIDELIS_CLIENT_CA", ""),
		"PEM CA bundle: clients must present a certificate it signed (mTLS); its common name names a principal (env FIDELIS_CLIENT_CA)")
	fs.StringVar(&f.peerCA, "peer-ca", envOr("FIDELIS_PEER_CA", ""), "PEM CA bundle that verifies the services called elsewhere (default: the system's) (env FIDELIS_PEER_CA)")
	fs.BoolVar(&f.insecure, "insecure", envOr("FIDELIS_INSECURE", "") == "true",
		"allow plaintext gRPC and HTTP on addresses other than loopback, and plaintext calls to services elsewhere (behind a TLS-terminating mesh) (env FIDELIS_INSECURE=true)")
	fs.DurationVar(&f.keyCacheTTL, "key-cache-ttl", 10*time.Second, "how long a key or principal read from the database is trusted: a key revoked on another replica stops here within it")
	fs.Float64Var(&f.ratePrincipal, "rate-limit", 1000, "requests per second of a principal on this replica, unless its own limit says otherwise (bursts of twice)")
	fs.Float64Var(&f.rateAddress, "rate-limit-address", 5000, "requests per second from one client address on this replica (services excepted)")
	fs.IntVar(&f.maxStreams, "max-streams", 8, "event streams a principal may have open on this replica")
	fs.StringVar(&f.accessLog, "access-log", envOr("FIDELIS_ACCESS_LOG", "info"),
		"level of the access log, one line per gRPC call (method, code, duration, principal): info, debug, or off (env FIDELIS_ACCESS_LOG)")
	fs.BoolVar(&f.pprof, "pprof", envOr("FIDELIS_PPROF", "") == "true",
		"serve the runtime profiles (net/http/pprof) under /debug/pprof/ on the operations port (env FIDELIS_PPROF=true)")
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
	if err := f.checkTransport(); err != nil {
		return err
	}
	hc := f.host()
	if hc.AccessLog, err = accessLevel(f.accessLog); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer lis.Close() // the server closes it too, once it serves
	hc.Exclusive = true
	h, err := host.Start(ctx, hc, log)
	if err != nil {
		return err
	}
	defer h.Close()

	var httpSrvs []*http.Server
	defer func() { // also when a later listener fails
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range httpSrvs {
			_ = srv.Shutdown(sctx)
		}
	}()
	serveHTTP := func(name, addr string, srv *http.Server, tls bool) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s listen: %w", name, err)
		}
		httpSrvs = append(httpSrvs, srv)
		go func() {
			var err error
			if tls {
				err = srv.ServeTLS(l, "", "")
			} else {
				err = srv.Serve(l)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error(name+" server", slog.Any("error", err))
			}
		}()
		log.Info(name+" listening", slog.String("addr", l.Addr().String()), slog.Bool("tls", tls))
		return nil
	}
	if f.httpListen != "" {
		srv := &http.Server{Handler: h.HTTP(), ReadHeaderTimeout: 10 * time.Second}
		if h.TLS != nil {
			srv.TLSConfig = h.TLS.ServerConfig()
		}
		if err := serveHTTP("http", f.httpListen, srv, h.TLS != nil); err != nil {
			return err
		}
	}
	if f.opsListen != "" {
		// Plaintext HTTP/1.1 and HTTP/2 (kubelet's gRPC probes speak h2c).
		var protocols http.Protocols
		protocols.SetHTTP1(true)
		protocols.SetUnencryptedHTTP2(true)
		srv := &http.Server{Handler: h.Ops(), ReadHeaderTimeout: 10 * time.Second, Protocols: &protocols}
		if err := serveHTTP("ops", f.opsListen, srv, false); err != nil {
			return err
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- h.GRPC.Serve(lis) }()
	log.Info("fidelis serving", slog.String("grpc", lis.Addr().String()), slog.Bool("tls", h.TLS != nil),
		slog.String("db", dialectOf(f.db)), slog.String("version", version))
	select {
	case err := <-errc:
		return fmt.Errorf("grpc serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	if !h.Stop(20 * time.Second) {
		log.Warn("graceful stop timed out; connections closed")
	}
	return nil
}

// checkTransport refuses plaintext on an address other than loopback,
// unless told otherwise: every call carries a credential.
func (f *serveFlags) checkTransport() error {
	tls := f.tlsCert != "" || f.tlsKey != ""
	if tls && (f.tlsCert == "" || f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if f.clientCA != "" && !tls {
		return errors.New("--client-ca needs --tls-cert and --tls-key: client certificates are checked over TLS")
	}
	if tls || f.insecure {
		return nil
	}
	for flag, addr := range map[string]string{"--listen": f.listen, "--http-listen": f.httpListen} {
		if addr != "" && !host.Loopback(addr) {
			return fmt.Errorf("%s %s: refusing to serve in plaintext beyond loopback, where credentials would cross the network in clear: "+
				"give --tls-cert and --tls-key, or --insecure behind a TLS-terminating proxy or mesh", flag, addr)
		}
	}
	return nil
}

func (f *serveFlags) host() host.Config {
	return host.Config{
		Services: splitList(f.services), LedgerAddr: f.ledgerAddr, RewardsAddr: f.rewardsAddr, PartnersAddr: f.partnersAddr,
		DB: f.db, ProgrammeConfig: f.config, Migrate: f.migrate, SchemaWait: f.schemaWait, OTLPEndpoint: f.otlp, OTLPInsecure: f.otlpInsecure,
		Shards: f.shards, MaxBatch: f.maxBatch, MaxConns: f.maxConns, JobsEvery: f.jobsEvery, Version: version,
		AdminKeyFile: f.adminKeyFile, ServiceKeyFile: f.serviceKeyFile, MasterKeysFile: f.masterKeys,
		TLS:      host.TLSFiles{Cert: f.tlsCert, Key: f.tlsKey, ClientCA: f.clientCA, PeerCA: f.peerCA},
		Insecure: f.insecure, KeyCacheTTL: f.keyCacheTTL,
		Limits: host.Limits{PerPrincipal: f.ratePrincipal, PerAddress: f.rateAddress, StreamsPerPrincipal: f.maxStreams},
		Pprof:  f.pprof,
	}
}

// accessLevel reads --access-log: nil for off.
func accessLevel(s string) (slog.Leveler, error) {
	switch s {
	case "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "off":
		return nil, nil
	}
	return nil, fmt.Errorf("--access-log %q: want info, debug or off", s)
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
