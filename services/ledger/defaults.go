// Package ledger wires the ledger service: its default programme
// configuration and its start-up.
package ledger

import (
	_ "embed"
)

// DefaultConfig is the programme configuration used when none is given.
//
//go:embed programme.yaml
var DefaultConfig []byte
