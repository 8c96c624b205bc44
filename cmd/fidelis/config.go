package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
)

// configCmd runs "fidelis config check FILE...": it loads every programme
// file as `serve --config` would and reports all of their mistakes, so a
// file is refused before a pod crash-loops on it.
func configCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: fidelis config check FILE..."
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, use)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, use) }
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	var errs []error
	for _, path := range fs.Args() {
		cfg, err := config.Load(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (version %d, %d programmes)\n", path, cfg.Version, len(cfg.Programmes))
	}
	return errors.Join(errs...)
}
