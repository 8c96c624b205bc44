// Package store is the access service's SQL store, one implementation for
// SQLite, PostgreSQL and CockroachDB.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem/idemsql"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the access schema up to date.
func Migrate(ctx context.Context, db *sqldb.DB, log *slog.Logger) error {
	return db.Migrate(ctx, migrations, "migrations", "access_schema_version", log)
}

// Schema is the access schema's migrations, whose version a server that does
// not migrate waits for.
func Schema() sqldb.Schema {
	return sqldb.Schema{FS: migrations, Dir: "migrations", Table: "access_schema_version"}
}

// Store implements app.Store.
type Store struct{ sqldb.Tables[app.Tx] }

// New wraps a database.
func New(db *sqldb.DB) *Store {
	return &Store{sqldb.Tables[app.Tx]{DB: db, Open: func(tx *sql.Tx) app.Tx { return newTxn(tx) }}}
}

// AppendAudit implements app.Store: one multi-row INSERT.
func (s *Store) AppendAudit(ctx context.Context, recs []audit.Record) error {
	if len(recs) == 0 {
		return nil
	}
	const cols = 9
	var q strings.Builder
	q.WriteString(`INSERT INTO access_audit (audit_id, at, method, principal_id, on_behalf_of, decision, code, source, calls) VALUES `)
	args := make([]any, 0, cols*len(recs))
	for i, r := range recs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(" + sqldb.Placeholders(i*cols+1, cols) + ")")
		args = append(args, r.ID, sqldb.Micros(r.At), r.Method, r.Principal, r.OnBehalfOf, string(r.Decision), r.Code, r.Source, r.Count)
	}
	return s.DB.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		return nil
	})
}

// AddFailures implements app.Store.
func (s *Store) AddFailures(ctx context.Context, counts []audit.FailureCount) error {
	return s.DB.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, c := range counts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO access_auth_failures (minute, source, reason, count) VALUES ($1, $2, $3, $4)
				ON CONFLICT (minute, source, reason) DO UPDATE SET count = access_auth_failures.count + excluded.count`,
				sqldb.Micros(c.Minute), c.Source, c.Reason, c.Count); err != nil {
				return fmt.Errorf("add authentication failures: %w", err)
			}
		}
		return nil
	})
}

// txn is one transaction: the service's tables, and its idempotency
// table (idem.Tx).
type txn struct {
	tx *sql.Tx
	idem.Tx
}

func newTxn(tx *sql.Tx) *txn { return &txn{tx: tx, Tx: idemTable.In(tx, app.ErrConflict)} }

func (t *txn) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, q, args...)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", app.ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("%.40q: %w", q, err)
	}
	return nil
}

const idemTable = idemsql.Table("access_idempotency")

// PurgeIdem implements app.Store.
func (s *Store) PurgeIdem(ctx context.Context, before time.Time) (int, error) {
	return idemTable.Purge(ctx, s.DB, before, 0)
}

const principalCols = `principal_id, roles, programmes, partner_id, max_earn_points, max_adjust_points, rate_limit,
	created_at, created_by, updated_at`

func joinRoles(rs []principal.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func splitRoles(s string) []principal.Role {
	var out []principal.Role
	for _, r := range strings.Split(s, ",") {
		if r != "" {
			out = append(out, principal.Role(r))
		}
	}
	return out
}

func principalArgs(p *domain.Principal) []any {
	return []any{p.ID, joinRoles(p.Roles), strings.Join(p.Programmes, ","), p.PartnerID, p.Limits.MaxEarnPoints,
		p.Limits.MaxAdjustPoints, p.Limits.RatePerSecond, sqldb.Micros(p.CreatedAt), p.CreatedBy, sqldb.Micros(p.UpdatedAt)}
}

type scanner interface{ Scan(dest ...any) error }

func scanPrincipal(row scanner) (*domain.Principal, error) {
	var p domain.Principal
	var roles, progs string
	var created, updated int64
	err := row.Scan(&p.ID, &roles, &progs, &p.PartnerID, &p.Limits.MaxEarnPoints, &p.Limits.MaxAdjustPoints,
		&p.Limits.RatePerSecond, &created, &p.CreatedBy, &updated)
	if err != nil {
		return nil, err
	}
	p.Roles, p.Programmes = splitRoles(roles), strings.Split(progs, ",")
	p.CreatedAt, p.UpdatedAt = sqldb.FromMicros(created), sqldb.FromMicros(updated)
	return &p, nil
}

func (t *txn) Principal(ctx context.Context, id string) (*domain.Principal, error) {
	p, err := scanPrincipal(t.tx.QueryRowContext(ctx, `SELECT `+principalCols+` FROM access_principals WHERE principal_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("principal: %w", err)
	}
	return p, nil
}

func (t *txn) InsertPrincipal(ctx context.Context, p *domain.Principal) error {
	return t.exec(ctx, `INSERT INTO access_principals (`+principalCols+`) VALUES (`+sqldb.Placeholders(1, 10)+`)`, principalArgs(p)...)
}

func (t *txn) UpdatePrincipal(ctx context.Context, p *domain.Principal) error {
	return t.exec(ctx, `UPDATE access_principals SET roles = $2, programmes = $3, partner_id = $4, max_earn_points = $5,
		max_adjust_points = $6, rate_limit = $7, updated_at = $10 WHERE principal_id = $1 AND created_at = $8 AND created_by = $9`,
		principalArgs(p)...)
}

func (t *txn) Principals(ctx context.Context, afterID string, limit int) ([]*domain.Principal, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+principalCols+` FROM access_principals WHERE principal_id > $1
		ORDER BY principal_id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("principals: %w", err)
	}
	defer rows.Close()
	var out []*domain.Principal
	for rows.Next() {
		p, err := scanPrincipal(rows)
		if err != nil {
			return nil, fmt.Errorf("principals: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

const keyCols = `key_id, principal_id, secret_hash, created_at, created_by, expires_at, revoked_at, replaced_by`

func scanKey(row scanner) (*domain.Key, error) {
	var k domain.Key
	var created, expires, revoked int64
	if err := row.Scan(&k.ID, &k.PrincipalID, &k.Hash, &created, &k.CreatedBy, &expires, &revoked, &k.ReplacedBy); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = sqldb.FromMicros(created), sqldb.FromMicros(expires), sqldb.FromMicros(revoked)
	return &k, nil
}

func (t *txn) Key(ctx context.Context, id string) (*domain.Key, error) {
	k, err := scanKey(t.tx.QueryRowContext(ctx, `SELECT `+keyCols+` FROM access_keys WHERE key_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return k, nil
}

func (t *txn) InsertKey(ctx context.Context, k *domain.Key) error {
	return t.exec(ctx, `INSERT INTO access_keys (`+keyCols+`) VALUES (`+sqldb.Placeholders(1, 8)+`)`,
		k.ID, k.PrincipalID, k.Hash, sqldb.Micros(k.CreatedAt), k.CreatedBy, sqldb.Micros(k.ExpiresAt), sqldb.Micros(k.RevokedAt), k.ReplacedBy)
}

func (t *txn) EndKey(ctx context.Context, k *domain.Key) error {
	return t.exec(ctx, `UPDATE access_keys SET expires_at = $2, revoked_at = $3, replaced_by = $4 WHERE key_id = $1`,
		k.ID, sqldb.Micros(k.ExpiresAt), sqldb.Micros(k.RevokedAt), k.ReplacedBy)
}

func (t *txn) Keys(ctx context.Context, principalID string, after *domain.Key, limit int) ([]*domain.Key, error) {
	q := `SELECT ` + keyCols + ` FROM access_keys WHERE ($1 = '' OR principal_id = $1)`
	args := []any{principalID}
	if after != nil {
		q += ` AND (created_at < $2 OR (created_at = $2 AND key_id < $3))`
		args = append(args, sqldb.Micros(after.CreatedAt), after.ID)
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, key_id DESC LIMIT %d`, limit)
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer rows.Close()
	var out []*domain.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (t *txn) Audit(ctx context.Context, f app.AuditFilter, beforeID string, limit int) ([]audit.Record, error) {
	q := `SELECT audit_id, at, method, principal_id, on_behalf_of, decision, code, source, calls FROM access_audit WHERE TRUE`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Principal != "" {
		p := arg(f.Principal)
		q += ` AND (principal_id = ` + p + ` OR on_behalf_of = ` + p + `)`
	}
	switch m := f.Method; {
	case m == "":
	case strings.Contains(m, "/"):
		q += ` AND method = ` + arg(m)
	default: // a service, or a package ending with "."
		if !strings.HasSuffix(m, ".") {
			m += "/"
		}
		// A prefix compared as it is: LIKE ignores case on SQLite, and
		// method names are case-sensitive.
		q += ` AND substr(method, 1, ` + arg(utf8.RuneCountInString(m)) + `) = ` + arg(m)
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ` + arg(sqldb.Micros(f.Since))
	}
	if !f.Until.IsZero() {
		q += ` AND at < ` + arg(sqldb.Micros(f.Until))
	}
	if beforeID != "" {
		q += ` AND audit_id < ` + arg(beforeID)
	}
	q += fmt.Sprintf(` ORDER BY audit_id DESC LIMIT %d`, limit)
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var r audit.Record
		var at int64
		var decision string
		if err := rows.Scan(&r.ID, &at, &r.Method, &r.Principal, &r.OnBehalfOf, &decision, &r.Code, &r.Source, &r.Count); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		r.At, r.Decision = sqldb.FromMicros(at), audit.Decision(decision)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *txn) Failures(ctx context.Context, f app.FailureFilter, after *audit.FailureCount, limit int) ([]audit.FailureCount, error) {
	q := `SELECT minute, source, reason, count FROM access_auth_failures WHERE TRUE`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !f.Since.IsZero() {
		q += ` AND minute >= ` + arg(sqldb.Micros(f.Since))
	}
	if !f.Until.IsZero() {
		q += ` AND minute < ` + arg(sqldb.Micros(f.Until))
	}
	if after != nil {
		m, src, r := arg(sqldb.Micros(after.Minute)), arg(after.Source), arg(after.Reason)
		q += ` AND (minute < ` + m + ` OR (minute = ` + m + ` AND (source > ` + src + ` OR (source = ` + src + ` AND reason > ` + r + `))))`
	}
	q += fmt.Sprintf(` ORDER BY minute DESC, source, reason LIMIT %d`, limit)
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("authentication failures: %w", err)
	}
	defer rows.Close()
	var out []audit.FailureCount
	for rows.Next() {
		var c audit.FailureCount
		var minute int64
		if err := rows.Scan(&minute, &c.Source, &c.Reason, &c.Count); err != nil {
			return nil, fmt.Errorf("authentication failures: %w", err)
		}
		c.Minute = sqldb.FromMicros(minute)
		out = append(out, c)
	}
	return out, rows.Err()
}
