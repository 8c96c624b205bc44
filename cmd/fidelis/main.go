// Command fidelis runs the Fidelis loyalty services.
//
//	fidelis serve    run the services (embedded SQLite by default)
//	fidelis migrate  bring the database schema up to date
//	fidelis bench    drive Earn/Burn load over gRPC and report latency
//	fidelis kpi      print a programme's churn, retention and points KPIs
//	fidelis keys     create, list, rotate and revoke API keys
//	fidelis version  print the version and commit
//	fidelis config   check programme files (fidelis config check FILE...)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // programme time zones work without the OS database
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fidelis:", err)
		}
		stop()
		os.Exit(1)
	}
}

const usage = `usage: fidelis <command> [flags]

commands:
  serve    run the services in one process (embedded SQLite by default)
  migrate  bring the database schema up to date
  bench    drive Earn/Burn load over gRPC and print throughput and latency
  kpi      print a programme's churn, retention and points KPIs for a period
  keys     create, list, rotate and revoke API keys on the database
  version  print the version, the commit and the Go release
  config   check programme files: fidelis config check FILE...

Run "fidelis <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args, stderr)
	case "migrate":
		return migrate(ctx, args, stderr)
	case "bench":
		return bench(ctx, args, stdout, stderr)
	case "kpi":
		return kpi(ctx, args, stdout, stderr)
	case "keys":
		return keys(ctx, args, stdout, stderr)
	case "version", "--version":
		return printVersion(stdout)
	case "config":
		return configCmd(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// envOr reads a flag's default from the environment.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// commonFlags are the flags every command shares.
type commonFlags struct {
	db        string
	logLevel  string
	logFormat string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.db, "db", envOr("FIDELIS_DB", "sqlite:fidelis.db"),
		"database: sqlite:FILE, sqlite::memory:, postgres://... or cockroachdb://... (env FIDELIS_DB)")
	fs.StringVar(&c.logLevel, "log-level", envOr("FIDELIS_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", envOr("FIDELIS_LOG_FORMAT", "text"), "text or json")
}

func (c *commonFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.logFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", c.logFormat)
	}
}
