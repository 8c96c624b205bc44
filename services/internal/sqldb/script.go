package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Stmt is one statement of a script, with $1..$n placeholders of its own.
type Stmt struct {
	SQL  string
	Args []any
}

// scriptBytes bounds one round trip of a script.
const scriptBytes = 4 << 20

// ExecScript runs statements in order in tx. On PostgreSQL and CockroachDB
// they go in as few round trips as fit in 4 MiB of SQL each: simple-protocol
// queries in which the driver quotes and escapes every argument. SQLite runs
// in process, with no round trip to save, so it runs them one by one.
func (db *DB) ExecScript(ctx context.Context, tx *sql.Tx, stmts []Stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	if db.Dialect == SQLite {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s.SQL, s.Args...); err != nil {
				return fmt.Errorf("%.40q: %w", s.SQL, err)
			}
		}
		return nil
	}
	var b strings.Builder
	args := []any{pgx.QueryExecModeSimpleProtocol}
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("script of %d statements: %w", n, err)
		}
		b.Reset()
		args, n = args[:1], 0
		return nil
	}
	for _, s := range stmts {
		renumber(&b, s.SQL, len(args)-1)
		// On a line of its own, so that a -- comment ending the statement
		// does not comment it out.
		b.WriteString("\n;\n")
		args = append(args, s.Args...)
		n++
		if b.Len()+16*(len(args)-1) > scriptBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// renumber writes q with each placeholder $k turned into $(k+offset). It
// reads q the way pgx's simple protocol does when it puts the arguments in
// (and the way PostgreSQL does), leaving alone what is no placeholder there:
// quoted strings and identifiers ('...', "...", and E'...' with backslash
// escapes), dollar-quoted strings ($$...$$, $tag$...$tag$: a function
// body's $1 is its own) and comments (-- to the end of the line, /* */
// nested). An unterminated one runs to the end of q.
func renumber(b *strings.Builder, q string, offset int) {
	for i := 0; i < len(q); {
		c := q[i]
		end := i + 1 // q[i:end] is copied unchanged
		switch {
		case (c == 'e' || c == 'E') && i+1 < len(q) && q[i+1] == '\'':
			end = quoted(q, i+2, '\'', true)
		case c == '\'' || c == '"':
			end = quoted(q, i+1, c, false)
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end = len(q)
			if j := strings.IndexAny(q[i+2:], "\n\r"); j >= 0 {
				end = i + 2 + j + 1
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end = blockComment(q, i+2)
		case c == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			end = i + 1
			for end < len(q) && q[end] >= '0' && q[end] <= '9' {
				end++
			}
			// A number beyond any argument list is left for pgx to refuse.
			if n, err := strconv.Atoi(q[i+1 : end]); err == nil && n <= math.MaxInt32 {
				b.WriteString("$" + strconv.Itoa(n+offset))
				i = end
				continue
			}
		case c == '$':
			if tag, ok := dollarTag(q[i:]); ok {
				end = len(q)
				if j := strings.Index(q[i+len(tag):], tag); j >= 0 {
					end = i + len(tag) + j + len(tag)
				}
			}
		}
		b.WriteString(q[i:end])
		i = end
	}
}

// quoted is where the string or identifier that q[from:] is inside ends,
// after its closing quote; a doubled quote is one quote in it, and so is
// one after a backslash if it takes backslash escapes.
func quoted(q string, from int, quote byte, backslash bool) int {
	for i := from; i < len(q); i++ {
		switch {
		case backslash && q[i] == '\\':
			i++
		case q[i] == quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(q)
}

// blockComment is where the comment that q[from:] is inside ends, after its
// */; comments nest.
func blockComment(q string, from int) int {
	depth := 0
	for i := from; i+1 < len(q); i++ {
		switch {
		case q[i] == '/' && q[i+1] == '*':
			depth++
			i++
		case q[i] == '*' && q[i+1] == '/':
			if depth == 0 {
				return i + 2
			}
			depth--
			i++
		}
	}
	return len(q)
}

// dollarTag is the opening $tag$ (or $$) of the dollar-quoted string q
// starts with, if it starts with one. A tag is a letter or _ (or any
// non-ASCII character), then letters, digits and _.
func dollarTag(q string) (string, bool) {
	for i := 1; i < len(q); {
		r, w := utf8.DecodeRuneInString(q[i:])
		switch {
		case r == '$':
			return q[:i+1], true
		case r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r >= 0x80 && r != utf8.RuneError,
			i > 1 && '0' <= r && r <= '9':
		default:
			return "", false
		}
		i += w
	}
	return "", false
}
