package fault_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
)

// Every Reason the services can give is a value of the enum
// fidelis.type.v1.ErrorReason, and the enum has no value that none gives:
// clients get a constant for each reason they may see.
func TestReasonsAreTheProtoEnum(t *testing.T) {
	fs := token.NewFileSet()
	f, err := parser.ParseFile(fs, "reasons.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var inGo []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			lit, err := strconv.Unquote(v.Values[0].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			inGo = append(inGo, lit)
		}
	}
	var inProto []string
	for name, n := range typev1.ErrorReason_value {
		if n != 0 {
			inProto = append(inProto, name)
		}
	}
	slices.Sort(inGo)
	slices.Sort(inProto)
	if len(inGo) < 60 || !slices.Equal(inGo, inProto) {
		t.Fatalf("reasons in Go (%d):\n%v\nvalues of fidelis.type.v1.ErrorReason (%d):\n%v", len(inGo), inGo, len(inProto), inProto)
	}
}

// The errors each RPC lists in its comment ("Errors:" then lines
// "  - NOT_FOUND: MEMBER_NOT_FOUND, ...") name real status codes and
// reasons of fidelis.type.v1.ErrorReason, so client authors can trust them.
func TestProtoErrorLists(t *testing.T) {
	files, err := filepath.Glob("../../../api/proto/fidelis/*/v1/*.proto")
	if err != nil || len(files) == 0 {
		t.Fatalf("no protos: %v", err)
	}
	codeNames := map[string]bool{
		"CANCELLED": true, "UNKNOWN": true, "INVALID_ARGUMENT": true, "DEADLINE_EXCEEDED": true, "NOT_FOUND": true,
		"ALREADY_EXISTS": true, "PERMISSION_DENIED": true, "RESOURCE_EXHAUSTED": true, "FAILED_PRECONDITION": true,
		"ABORTED": true, "OUT_OF_RANGE": true, "UNIMPLEMENTED": true, "INTERNAL": true, "UNAVAILABLE": true,
		"DATA_LOSS": true, "UNAUTHENTICATED": true,
	}
	item := regexp.MustCompile(`^//\s+- ([A-Z_]+): ([A-Z_, ]+)$`)
	rpc := regexp.MustCompile(`^rpc (\w+)\(`)
	listed := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var comment []string
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "//") {
				comment = append(comment, line)
				continue
			}
			if m := rpc.FindStringSubmatch(line); m != nil {
				in := false
				for _, c := range comment {
					if strings.TrimSpace(strings.TrimPrefix(c, "//")) == "Errors:" {
						in = true
						continue
					}
					if !in {
						continue
					}
					it := item.FindStringSubmatch(c)
					if it == nil {
						in = false
						continue
					}
					if _, ok := codeNames[it[1]]; !ok {
						t.Errorf("%s %s: %q is not a status code", filepath.Base(file), m[1], it[1])
					}
					for _, r := range strings.Split(it[2], ",") {
						r = strings.TrimSpace(r)
						if _, ok := typev1.ErrorReason_value[r]; !ok || r == "ERROR_REASON_UNSPECIFIED" {
							t.Errorf("%s %s: %q is not a value of fidelis.type.v1.ErrorReason", filepath.Base(file), m[1], r)
						}
						listed++
					}
				}
			}
			comment = nil
		}
	}
	if listed < 40 {
		t.Errorf("only %d reasons listed in the protos' RPC comments", listed)
	}
}
