package config_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

const (
	goldenFile   = "testdata/repository.golden"
	goldenHeader = "# What every programme configuration in the repository loads as. Written by\n" +
		"# TestEveryConfigInTheRepository with FIDELIS_UPDATE_GOLDEN=1; review the diff.\n"
)

// Every programme configuration in the repository (the built-in one, the
// Kubernetes one, the README's, the tests') loads, and loads as it always
// has: the golden file was first written by the parser this package
// replaced, from the same files.
func TestEveryConfigInTheRepository(t *testing.T) {
	configs := repoConfigs(t, "../../..", "services/ledger/config")
	var b strings.Builder
	b.WriteString(goldenHeader)
	for _, f := range configs {
		fmt.Fprintf(&b, "== %s\n", f.name)
		c, err := config.Parse([]byte(f.text))
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		b.WriteString(describe(c))
	}
	for _, want := range []string{"README.md (yaml block 1)", "deploy/k8s/base/programme.yaml", "services/ledger/config/programme.yaml",
		"services/ledger/ledgertest/ledgertest.go: Config"} {
		if !slices.ContainsFunc(configs, func(f found) bool { return f.name == want }) {
			t.Errorf("%s was not found", want)
		}
	}
	got := b.String()
	if os.Getenv("FIDELIS_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the repository's configurations load differently from %s (FIDELIS_UPDATE_GOLDEN=1 rewrites it); got:\n%s", goldenFile, got)
	}
}

// found is a programme configuration in the repository: where it is and
// its text.
type found struct{ name, text string }

// repoConfigs finds every programme configuration in the repository: YAML
// files and README snippets with a top-level programmes key, and Go string
// constants and variables holding one (test configurations), except the
// Go files and test data of skipDir, whose tests break rules on purpose.
func repoConfigs(t *testing.T, root, skipDir string) []found {
	t.Helper()
	topLevelProgrammes := regexp.MustCompile(`(?m)^programmes:`)
	yamlBlock := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	var out []found
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || rel == "api/gen" || rel == skipDir+"/testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if topLevelProgrammes.Match(data) {
				out = append(out, found{rel, string(data)})
			}
		case ".md":
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, m := range yamlBlock.FindAllSubmatch(data, -1) {
				if topLevelProgrammes.Match(m[1]) {
					out = append(out, found{fmt.Sprintf("%s (yaml block %d)", rel, i+1), string(m[1])})
				}
			}
		case ".go":
			if filepath.ToSlash(filepath.Dir(rel)) == skipDir {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				g, ok := decl.(*ast.GenDecl)
				if !ok || (g.Tok != token.CONST && g.Tok != token.VAR) {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, v := range vs.Values {
						lit, ok := v.(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						s, err := strconv.Unquote(lit.Value)
						if err != nil {
							return fmt.Errorf("%s: %w", rel, err)
						}
						if topLevelProgrammes.MatchString(s) {
							out = append(out, found{rel + ": " + vs.Names[i].Name, s})
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b found) int { return strings.Compare(a.name, b.name) })
	return out
}

// dump writes every exported field of v, one line per value, with its path:
// a field added to the domain types is part of the comparison without
// anyone having to remember it.
func dump(b *strings.Builder, path string, v reflect.Value) {
	switch x := v.Interface().(type) {
	case decimal.Decimal:
		fmt.Fprintf(b, "%s = %s (%se%d)\n", path, x, x.Coefficient(), x.Exponent())
		return
	case *time.Location:
		fmt.Fprintf(b, "%s = %v\n", path, x)
		return
	case time.Duration:
		fmt.Fprintf(b, "%s = %s\n", path, x)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			fmt.Fprintf(b, "%s = nil\n", path)
			return
		}
		dump(b, path, v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				dump(b, strings.TrimPrefix(path+"."+f.Name, "."), v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			fmt.Fprintf(b, "%s = []\n", path)
		}
		for i := range v.Len() {
			dump(b, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			fmt.Fprintf(b, "%s = {}\n", path)
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			dump(b, fmt.Sprintf("%s[%s]", path, k), v.MapIndex(k))
		}
	case reflect.String:
		fmt.Fprintf(b, "%s = %q\n", path, v.String())
	default:
		fmt.Fprintf(b, "%s = %v\n", path, v.Interface())
	}
}

// describe is everything a configuration holds, and whether each
// programme is found by its id.
func describe(c *domain.Config) string {
	var b strings.Builder
	dump(&b, "", reflect.ValueOf(c))
	for _, p := range c.Programmes {
		got, ok := c.Programme(p.ID)
		fmt.Fprintf(&b, "Programme(%q) found: %v\n", p.ID, ok && got == p)
	}
	return b.String()
}
