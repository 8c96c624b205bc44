// Package config reads the ledger's programme configuration: a versioned
// YAML file of programmes (the built-in one is programme.yaml here). It
// parses the file, fills in what it leaves out, checks every rule and
// builds the domain's programmes from it. A file with mistakes is refused
// with all of them at once, one per line, each with its path
// ("programmes[0].earning.rates: at least one currency is required").
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// builtIn is the configuration used when none is given.
//
//go:embed programme.yaml
var builtIn string

// Parse reads a programme configuration file.
func Parse(data []byte) (*domain.Config, error) {
	return parse("programme config", data)
}

// Load reads the programme configuration file at path, or the built-in one
// when path is empty.
func Load(path string) (*domain.Config, error) {
	if path == "" {
		return parse("built-in programme config", []byte(builtIn))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read programme config: %w", err)
	}
	return parse("programme config "+path, data)
}

// parse reads a file; name names it in errors.
func parse(name string, data []byte) (*domain.Config, error) {
	var doc document
	var ps problems
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty document
		// A value of the wrong type or an unknown key leaves the rest of
		// the document decoded: report them with what else is wrong.
		var typeErr *yaml.TypeError
		if !errors.As(err, &typeErr) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, msg := range typeErr.Errors {
			ps = append(ps, errors.New(msg))
		}
	}
	c := check(&doc, &ps)
	if len(ps) > 0 {
		return nil, fmt.Errorf("%s:\n%w", name, errors.Join(ps...))
	}
	return c, nil
}
