package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/members"
)

// Vault is the members' personal data store (members.Store): the tables
// of migration 00018 and the ledger's member rows' pseudonyms.
type Vault struct{ db *sqldb.DB }

var _ members.Store = Vault{}

// NewVault wraps a database.
func NewVault(db *sqldb.DB) Vault { return Vault{db} }

type vaultTxn struct {
	ledgerIdem
	tx *sql.Tx
}

// Update implements members.Store.
func (v Vault) Update(ctx context.Context, fn func(ctx context.Context, tx members.Tx) error) error {
	err := v.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return fn(ctx, vaultTxn{ledgerIdem{tx, members.ErrConflict}, tx})
	})
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", members.ErrConflict, err)
	}
	return err
}

// View implements members.Store.
func (v Vault) View(ctx context.Context, fn func(ctx context.Context, tx members.Tx) error) error {
	return v.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return fn(ctx, vaultTxn{ledgerIdem{tx, members.ErrConflict}, tx})
	})
}

func (v Vault) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := v.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, v.db.Classify(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, v.db.Classify(rows.Err())
}

// KeysNotWrappedBy implements members.Store.
func (v Vault) KeysNotWrappedBy(ctx context.Context, master, after string, limit int) ([]string, error) {
	return v.ids(ctx, `SELECT member_id FROM member_keys WHERE master_id <> $1 AND member_id > $2 ORDER BY member_id LIMIT $3`, master, after, limit)
}

// PlaintextMembers implements members.Store.
func (v Vault) PlaintextMembers(ctx context.Context, after string, limit int) ([]string, error) {
	return v.ids(ctx, `SELECT member_id FROM ledger_members WHERE member_id > $1 AND external_ref NOT LIKE $2 AND external_ref NOT LIKE $3
		ORDER BY member_id LIMIT $4`, after, members.RefPrefix+"%", members.ErasedPrefix+"%", limit)
}

// RedactEnrolReplies implements members.Store.
func (v Vault) RedactEnrolReplies(ctx context.Context, redact func([]byte) ([]byte, bool)) (int, error) {
	type rec struct {
		caller, key string
		resp        []byte
	}
	var todo []rec
	err := v.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error {
		todo = todo[:0]
		rows, err := tx.QueryContext(ctx, `SELECT caller, idem_key, response FROM ledger_idempotency WHERE method = 'Enrol'`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r rec
			if err := rows.Scan(&r.caller, &r.key, &r.resp); err != nil {
				return err
			}
			if out, changed := redact(r.resp); changed {
				r.resp = out
				todo = append(todo, r)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return 0, err
	}
	for start := 0; start < len(todo); start += 200 {
		batch := todo[start:min(start+200, len(todo))]
		err := v.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			for _, r := range batch {
				if _, err := tx.ExecContext(ctx, `UPDATE ledger_idempotency SET response = $1 WHERE caller = $2 AND idem_key = $3`,
					r.resp, r.caller, r.key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return start, err
		}
	}
	return len(todo), nil
}

func (t vaultTxn) Member(ctx context.Context, memberID string) (members.Ref, bool, error) {
	var r members.Ref
	var erased sql.NullInt64
	err := t.tx.QueryRowContext(ctx, `SELECT programme_id, external_ref, birth_date,
		(SELECT erased_at FROM member_erasures WHERE member_erasures.member_id = ledger_members.member_id)
		FROM ledger_members WHERE member_id = $1`, memberID).Scan(&r.ProgrammeID, &r.ExternalRef, &r.BirthDate, &erased)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("member: %w", err)
	}
	if erased.Valid {
		r.Erased, r.ErasedAt = true, sqldb.FromMicros(erased.Int64)
	}
	return r, true, nil
}

func (t vaultTxn) Key(ctx context.Context, memberID string) (*pii.WrappedKey, error) {
	var w pii.WrappedKey
	err := t.tx.QueryRowContext(ctx, `SELECT master_id, wrapped FROM member_keys WHERE member_id = $1`, memberID).Scan(&w.MasterID, &w.Sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("member key: %w", err)
	}
	return &w, nil
}

func (t vaultTxn) PutKey(ctx context.Context, memberID string, w pii.WrappedKey, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO member_keys (member_id, master_id, wrapped, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (member_id) DO UPDATE SET master_id = excluded.master_id, wrapped = excluded.wrapped`,
		memberID, w.MasterID, w.Sealed, sqldb.Micros(at))
	return wrap("member key", err)
}

func (t vaultTxn) Profile(ctx context.Context, memberID string) ([]byte, int64, error) {
	var sealed []byte
	var version int64
	err := t.tx.QueryRowContext(ctx, `SELECT sealed, version FROM member_profiles WHERE member_id = $1`, memberID).Scan(&sealed, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("member profile: %w", err)
	}
	return sealed, version, nil
}

func (t vaultTxn) PutProfile(ctx context.Context, memberID string, sealed []byte, version int64, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO member_profiles (member_id, sealed, version, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (member_id) DO UPDATE SET sealed = excluded.sealed, version = excluded.version, updated_at = excluded.updated_at`,
		memberID, sealed, version, sqldb.Micros(at))
	return wrap("member profile", err)
}

const identifierCols = `identifier_id, member_id, programme_id, kind, lookup, sealed, created_at, replaced_at`

func scanIdentifier(sc interface{ Scan(...any) error }) (members.StoredIdentifier, error) {
	var id members.StoredIdentifier
	var created, replaced int64
	err := sc.Scan(&id.ID, &id.MemberID, &id.ProgrammeID, &id.Kind, &id.Lookup, &id.Sealed, &created, &replaced)
	id.CreatedAt, id.ReplacedAt = sqldb.FromMicros(created), sqldb.FromMicros(replaced)
	return id, err
}

func (t vaultTxn) Identifiers(ctx context.Context, memberID string) ([]members.StoredIdentifier, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+identifierCols+` FROM member_identifiers WHERE member_id = $1 ORDER BY created_at, identifier_id`, memberID)
	if err != nil {
		return nil, fmt.Errorf("member identifiers: %w", err)
	}
	defer rows.Close()
	var out []members.StoredIdentifier
	for rows.Next() {
		id, err := scanIdentifier(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (t vaultTxn) ByLookup(ctx context.Context, programmeID string, lookup []byte) (*members.StoredIdentifier, error) {
	id, err := scanIdentifier(t.tx.QueryRowContext(ctx, `SELECT `+identifierCols+` FROM member_identifiers WHERE programme_id = $1 AND lookup = $2`,
		programmeID, lookup))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("member identifier: %w", err)
	}
	return &id, nil
}

func (t vaultTxn) PutIdentifier(ctx context.Context, id members.StoredIdentifier) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO member_identifiers (`+identifierCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id.ID, id.MemberID, id.ProgrammeID, id.Kind, id.Lookup, id.Sealed, sqldb.Micros(id.CreatedAt), sqldb.Micros(id.ReplacedAt))
	return wrap("member identifier", err)
}

// ReplaceIdentifier implements members.Tx: the lookup hash is replaced by
// the identifier's id, which resolves nothing (and is no personal data).
func (t vaultTxn) ReplaceIdentifier(ctx context.Context, identifierID string, at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE member_identifiers SET replaced_at = $1, lookup = $2 WHERE identifier_id = $3`,
		sqldb.Micros(at), []byte("replaced:"+identifierID), identifierID)
	return wrap("member identifier", err)
}

func (t vaultTxn) DeleteIdentifier(ctx context.Context, identifierID string) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM member_identifiers WHERE identifier_id = $1`, identifierID)
	return wrap("member identifier", err)
}

func (t vaultTxn) Pseudonymise(ctx context.Context, memberID, externalRef, birthDate string) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE ledger_members SET external_ref = $1, birth_date = $2 WHERE member_id = $3`, externalRef, birthDate, memberID)
	return wrap("ledger_members", err)
}

func (t vaultTxn) Erase(ctx context.Context, memberID string, at time.Time) error {
	for _, q := range []string{
		`DELETE FROM member_keys WHERE member_id = $1`,
		`DELETE FROM member_profiles WHERE member_id = $1`,
		`DELETE FROM member_identifiers WHERE member_id = $1`,
	} {
		if _, err := t.tx.ExecContext(ctx, q, memberID); err != nil {
			return wrap("erase", err)
		}
	}
	if err := t.Pseudonymise(ctx, memberID, members.ErasedPrefix+memberID, ""); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO member_erasures (member_id, erased_at) VALUES ($1, $2)`, memberID, sqldb.Micros(at))
	return wrap("member_erasures", err)
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if sqldb.IsUniqueViolation(err) && !strings.Contains(what, "erase") {
		return fmt.Errorf("%s: %w: %w", what, members.ErrConflict, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
