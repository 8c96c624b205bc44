package fault_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
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
