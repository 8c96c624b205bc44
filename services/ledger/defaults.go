// Package ledger wires the ledger service: its default programme
// configuration, its three parts (posting, status, analytics) over one
// database, their gRPC services and the scheduled jobs.
package ledger

import (
	_ "embed"
)

// DefaultConfig is the programme configuration used when none is given.
//
//go:embed programme.yaml
var DefaultConfig []byte
