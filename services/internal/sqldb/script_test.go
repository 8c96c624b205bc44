package sqldb

import (
	"strings"
	"testing"
)

func TestRenumber(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset int
		want   string
	}{
		{"SELECT $1, $2", 0, "SELECT $1, $2"},
		{"SELECT $1, $12 FROM t WHERE a = $3", 10, "SELECT $11, $22 FROM t WHERE a = $13"},
		{"SELECT '$1', \"$2\", $1", 5, "SELECT '$1', \"$2\", $6"},
		{"SELECT 'it''s', $1", 1, "SELECT 'it''s', $2"},
		{"SELECT $$", 1, "SELECT $$"},

		// Quoted strings and identifiers: '' and "" are escaped quotes,
		// E'...' takes backslash escapes; ? is no placeholder anywhere.
		{"SELECT 'a ? $1 b', ?, $1", 3, "SELECT 'a ? $1 b', ?, $4"},
		{"SELECT 'it''s $1', $1", 3, "SELECT 'it''s $1', $4"},
		{`SELECT "we""ird $1", $1`, 3, `SELECT "we""ird $1", $4`},
		{`SELECT E'it\'s $1', $1`, 3, `SELECT E'it\'s $1', $4`},
		{`SELECT e'\\', $1, e'\'''$2', $2`, 3, `SELECT e'\\', $4, e'\'''$2', $5`},
		{`SELECT '\', $1`, 3, `SELECT '\', $4`}, // standard_conforming_strings: \ is no escape

		// Comments: -- to the end of the line, /* */ nested.
		{"SELECT $1 -- don't renumber $1\n, $2", 3, "SELECT $4 -- don't renumber $1\n, $5"},
		{"SELECT $1 -- it's\r, $2", 3, "SELECT $4 -- it's\r, $5"},
		{"SELECT /* it's $1 */ $1", 3, "SELECT /* it's $1 */ $4"},
		{"SELECT /* a /* it's $1 */ still $2 */ $1", 3, "SELECT /* a /* it's $1 */ still $2 */ $4"},
		{"SELECT 1 - $1, $1-$2, 4/$2", 3, "SELECT 1 - $4, $4-$5, 4/$5"},

		// Dollar-quoted strings: $1 in a function body is the function's.
		{"CREATE FUNCTION f(int) RETURNS int AS $$ SELECT $1 + 'x' $$ LANGUAGE sql; SELECT $1", 3,
			"CREATE FUNCTION f(int) RETURNS int AS $$ SELECT $1 + 'x' $$ LANGUAGE sql; SELECT $4"},
		{"SELECT $body$ it's $1 $$ $b$ $body$, $1", 3, "SELECT $body$ it's $1 $$ $b$ $body$, $4"},
		{"SELECT $_x9$ $1 $_x9$, $1", 3, "SELECT $_x9$ $1 $_x9$, $4"},
		{"SELECT $é$ $1 $é$, $1", 3, "SELECT $é$ $1 $é$, $4"},
		{"SELECT $1a$, $2", 3, "SELECT $4a$, $5"}, // a tag does not start with a digit
		{"SELECT $a b$ $1", 3, "SELECT $a b$ $4"}, // nor has a space
		{"SELECT $ 1, $1", 3, "SELECT $ 1, $4"},

		// Unterminated quotes, comments and dollar quotes run to the end.
		{"SELECT $1, '$1", 3, "SELECT $4, '$1"},
		{`SELECT $1, E'\`, 3, `SELECT $4, E'\`},
		{`SELECT $1, "$1`, 3, `SELECT $4, "$1`},
		{"SELECT $1 -- $1", 3, "SELECT $4 -- $1"},
		{"SELECT $1 /* $1 /* */ $1", 3, "SELECT $4 /* $1 /* */ $1"},
		{"SELECT $1, $x$ $1 $y$", 3, "SELECT $4, $x$ $1 $y$"},
		{"SELECT $1, $", 3, "SELECT $4, $"},
		{"SELECT $1, $x", 3, "SELECT $4, $x"},
		{"SELECT $1 -", 3, "SELECT $4 -"},
		{"SELECT $1 /", 3, "SELECT $4 /"},
		{"SELECT $1, E", 3, "SELECT $4, E"},
	} {
		var b strings.Builder
		renumber(&b, tc.in, tc.offset)
		if got := b.String(); got != tc.want {
			t.Errorf("renumber(%q, %d) = %q, want %q", tc.in, tc.offset, got, tc.want)
		}
	}
}

// Renumbering changes placeholder numbers only, whatever the text.
func FuzzRenumber(f *testing.F) {
	for _, s := range []string{"SELECT $1", "'", "E'\\", "$$", "$a$ $1", "/* /*", "--", "-", "/", "$", "\"", "e", "$01", "$9999999999999999999999"} {
		f.Add(s)
	}
	// numbers drops the digits after each $.
	numbers := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteByte(s[i])
			if s[i] == '$' {
				for i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
					i++
				}
			}
		}
		return b.String()
	}
	f.Fuzz(func(t *testing.T, q string) {
		var b strings.Builder
		renumber(&b, q, 7)
		if numbers(b.String()) != numbers(q) {
			t.Errorf("renumber(%q, 7) = %q: more than numbers changed", q, b.String())
		}
	})
}
