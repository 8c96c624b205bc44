package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

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
		b.WriteString(";\n")
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

// renumber writes q with each placeholder $k turned into $(k+offset),
// leaving quoted strings and identifiers alone.
func renumber(b *strings.Builder, q string, offset int) {
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(q[i+1 : j])
			b.WriteString("$" + strconv.Itoa(n+offset))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
}
