package authz_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

const (
	readme      = "../../../README.md"
	tableStart  = "<!-- access rules: generated from services/internal/authz.Rules by its test; FIDELIS_UPDATE_README=1 rewrites it -->"
	tableFinish = "<!-- end of access rules -->"
)

// table is the README's table of who may call what, from the rules.
func table(rules map[string]authz.Rule) string {
	var b strings.Builder
	b.WriteString("| service | RPC | roles | programme binding | audited |\n| --- | --- | --- | --- | --- |\n")
	methods := make([]string, 0, len(rules))
	for m := range rules {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		r := rules[m]
		service, rpc, _ := strings.Cut(strings.TrimPrefix(m, "/"), "/")
		service = service[strings.LastIndex(service, ".")+1:]
		var roles []string
		switch {
		case r.Public:
			roles = []string{"anyone, no credential"}
		case r.AnyRole:
			roles = []string{"any principal"}
		default:
			for _, role := range principal.Roles() {
				if slices.Contains(r.Roles, role) {
					roles = append(roles, "`"+string(role)+"`")
				}
			}
		}
		audited := "when denied"
		switch {
		case r.Public:
			audited = "no"
		case r.Write:
			audited = "always"
		}
		if r.Check != nil {
			rpc += " ⁽¹⁾"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", service, rpc, strings.Join(roles, ", "), r.Scope, audited)
	}
	return b.String()
}

// The README's table is the rules table.
func TestReadmeListsTheRules(t *testing.T) {
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i, j := strings.Index(text, tableStart), strings.Index(text, tableFinish)
	if i < 0 || j < i {
		t.Fatalf("README.md has no access rules table between %q and %q", tableStart, tableFinish)
	}
	want := table(authz.Rules())
	got := text[i+len(tableStart)+1 : j]
	if got == want {
		return
	}
	if os.Getenv("FIDELIS_UPDATE_README") == "1" {
		if err := os.WriteFile(readme, []byte(text[:i+len(tableStart)+1]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("README.md's access rules table rewritten")
		return
	}
	t.Fatalf("README.md's access rules table is not the rules': run FIDELIS_UPDATE_README=1 go test ./services/internal/authz/, want:\n%s", want)
}
