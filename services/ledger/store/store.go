// Package store is the ledger's SQL store: one implementation on
// database/sql for SQLite, PostgreSQL and CockroachDB.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem/idemsql"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Posting is the write path's store (posting.Store).
type Posting struct{ db *sqldb.DB }

// Status is the status projections' store (status.Store).
type Status struct{ db *sqldb.DB }

// Analytics is the analytics' store (analytics.Store).
type Analytics struct{ db *sqldb.DB }

var (
	_ posting.Store   = Posting{}
	_ status.Store    = Status{}
	_ analytics.Store = Analytics{}
)

// NewPosting wraps a database.
func NewPosting(db *sqldb.DB) Posting { return Posting{db} }

// NewStatus wraps a database.
func NewStatus(db *sqldb.DB) Status { return Status{db} }

// NewAnalytics wraps a database.
func NewAnalytics(db *sqldb.DB) Analytics { return Analytics{db} }

// Migrate brings the ledger schema up to date.
func Migrate(ctx context.Context, db *sqldb.DB, log *slog.Logger) error {
	return db.Migrate(ctx, migrations, "migrations", "ledger_schema_version", log)
}

// Schema is the ledger schema's migrations, whose version a server that does
// not migrate waits for.
func Schema() sqldb.Schema {
	return sqldb.Schema{FS: migrations, Dir: "migrations", Table: "ledger_schema_version"}
}

// Update implements posting.Store.
func (s Posting) Update(ctx context.Context, fn func(ctx context.Context, tx posting.Tx) error) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, &txn{tx: tx, db: s.db}) })
}

// View implements posting.Store.
func (s Posting) View(ctx context.Context, fn func(ctx context.Context, tx posting.Reader) error) error {
	return s.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, &txn{tx: tx, db: s.db}) })
}

// Replies implements posting.Store.
func (s Posting) Replies(ctx context.Context, keys []idem.Key) (map[idem.Key]idem.Record, error) {
	r, err := replies(ctx, s.db.DB, keys)
	return r, s.db.Classify(err)
}

// PurgeReplies implements posting.Store.
func (s Posting) PurgeReplies(ctx context.Context, before time.Time) (int, error) {
	return idemsql.Table("ledger_idempotency").Purge(ctx, s.db, before, 0)
}

// UpdateProjections implements status.Store.
func (s Status) UpdateProjections(ctx context.Context, fn func(ctx context.Context, tx status.ProjectionTx) error) error {
	return s.db.UpdateSnapshot(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, &txn{tx: tx, db: s.db}) })
}

// View implements status.Store.
func (s Status) View(ctx context.Context, fn func(ctx context.Context, tx status.Reader) error) error {
	return s.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, &txn{tx: tx, db: s.db}) })
}

// Update implements analytics.Store.
func (s Analytics) Update(ctx context.Context, fn func(ctx context.Context, tx analytics.Writer) error) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, &txn{tx: tx, db: s.db}) })
}

// View implements analytics.Store.
func (s Analytics) View(ctx context.Context, fn func(ctx context.Context, tx analytics.Reader) error) error {
	return s.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, &txn{tx: tx, db: s.db}) })
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

type txn struct {
	tx *sql.Tx
	db *sqldb.DB
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// maxParams keeps every statement within the engines' bound-parameter limits.
const maxParams = 30000

// inChunks runs f over ids in slices small enough for one IN list.
func inChunks(ids []string, f func(ids []string) error) error {
	for len(ids) > 0 {
		n := min(len(ids), maxParams)
		if err := f(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (t *txn) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	return query(ctx, t.tx, q, args, scan)
}

func query(ctx context.Context, db queryer, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("query %.40q: %w", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("scan %.40q: %w", q, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query %.40q: %w", q, err)
	}
	return nil
}

func replies(ctx context.Context, db queryer, keys []idem.Key) (map[idem.Key]idem.Record, error) {
	out := make(map[idem.Key]idem.Record, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), maxParams/2)
		var b strings.Builder
		args := make([]any, 0, 2*n)
		for i, k := range keys[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "($%d, $%d)", 2*i+1, 2*i+2)
			args = append(args, k.Caller, k.Key)
		}
		q := `SELECT caller, idem_key, method, request_hash, hash_version, response, created_at FROM ledger_idempotency
			WHERE (caller, idem_key) IN (` + b.String() + `)`
		err := query(ctx, db, q, args, func(r *sql.Rows) error {
			var rec idem.Record
			var created int64
			if err := r.Scan(&rec.Caller, &rec.Key.Key, &rec.Method, &rec.Hash, &rec.HashVersion, &rec.Response, &created); err != nil {
				return err
			}
			rec.CreatedAt = sqldb.FromMicros(created)
			if rec.HashVersion == 0 {
				// Written before replies were stored in idem's form (and
				// refusals were stored at all): the bare reply, hashed
				// as version 1. Gone once the retention has passed.
				rec.HashVersion, rec.Response = 1, slices.Concat([]byte(`{"Result":`), rec.Response, []byte(`}`))
			}
			out[rec.Key] = rec
			return nil
		})
		if err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return out, nil
}

const memberCols = `member_id, programme_id, external_ref, birth_date, partner_consent, enrolled_at,
	available, pending, held, debt, lifetime_earned, lifetime_burned, seq, next_due_at, updated_at`

// memberSelect reads a member with the tier its purchases are priced at:
// the one last projected. The projections own that row, so that the ledger
// and the projector never update the same row.
const memberSelect = memberCols + `,
	COALESCE((SELECT tier FROM member_status WHERE member_status.member_id = ledger_members.member_id), '')`

func scanMember(r *sql.Rows) (*domain.Member, error) {
	var m domain.Member
	var enrolled, due, updated int64
	err := r.Scan(&m.ID, &m.ProgrammeID, &m.ExternalRef, &m.BirthDate, &m.PartnerConsent, &enrolled,
		&m.Available, &m.Pending, &m.Held, &m.Debt, &m.LifetimeEarned, &m.LifetimeBurned, &m.Seq, &due, &updated, &m.Tier)
	m.EnrolledAt, m.NextDueAt, m.UpdatedAt = sqldb.FromMicros(enrolled), sqldb.FromMicros(due), sqldb.FromMicros(updated)
	return &m, err
}

func (t *txn) Members(ctx context.Context, ids []string, lock bool) (map[string]*domain.Member, error) {
	out := make(map[string]*domain.Member, len(ids))
	suffix := ""
	if lock {
		suffix = t.db.ForUpdate("ledger_members")
	}
	err := inChunks(ids, func(ids []string) error {
		q := `SELECT ` + memberSelect + ` FROM ledger_members WHERE member_id IN (` +
			sqldb.Placeholders(1, len(ids)) + `) ORDER BY member_id` + suffix
		return t.query(ctx, q, anys(ids), func(r *sql.Rows) error {
			m, err := scanMember(r)
			out[m.ID] = m
			return err
		})
	})
	return out, err
}

func (t *txn) MemberIDByRef(ctx context.Context, programmeID, ref string) (string, bool, error) {
	var id string
	err := t.tx.QueryRowContext(ctx, `SELECT member_id FROM ledger_members WHERE programme_id = $1 AND external_ref = $2`,
		programmeID, ref).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("member by ref: %w", err)
	}
	return id, true, nil
}

const lotCols = `lot_id, member_id, source_entry_id, points, remaining, pending, available_at, expires_at, created_at`

func (t *txn) lots(ctx context.Context, where string, args []any) ([]*domain.Lot, error) {
	var out []*domain.Lot
	err := t.query(ctx, `SELECT `+lotCols+` FROM ledger_lots WHERE `+where, args, func(r *sql.Rows) error {
		var l domain.Lot
		var avail, exp, created int64
		if err := r.Scan(&l.ID, &l.MemberID, &l.SourceEntryID, &l.Points, &l.Remaining, &l.Pending, &avail, &exp, &created); err != nil {
			return err
		}
		l.AvailableAt, l.ExpiresAt, l.CreatedAt = sqldb.FromMicros(avail), sqldb.FromMicros(exp), sqldb.FromMicros(created)
		out = append(out, &l)
		return nil
	})
	return out, err
}

func (t *txn) OpenLots(ctx context.Context, memberIDs []string) ([]*domain.Lot, error) {
	var out []*domain.Lot
	err := inChunks(memberIDs, func(ids []string) error {
		ls, err := t.lots(ctx, `member_id IN (`+sqldb.Placeholders(1, len(ids))+`) AND (remaining > 0 OR pending)`, anys(ids))
		out = append(out, ls...)
		return err
	})
	return out, err
}

func (t *txn) LotsByID(ctx context.Context, ids []string) ([]*domain.Lot, error) {
	var out []*domain.Lot
	err := inChunks(dedupe(ids), func(ids []string) error {
		ls, err := t.lots(ctx, `lot_id IN (`+sqldb.Placeholders(1, len(ids))+`)`, anys(ids))
		out = append(out, ls...)
		return err
	})
	return out, err
}

func (t *txn) LotsBySource(ctx context.Context, entryID string) ([]*domain.Lot, error) {
	return t.lots(ctx, `source_entry_id = $1`, []any{entryID})
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

const holdCols = `hold_id, member_id, entry_id, points, captured, released, status, reference, created_at, expires_at, updated_at`

func (t *txn) holds(ctx context.Context, where string, args []any) ([]*domain.Hold, error) {
	var out []*domain.Hold
	err := t.query(ctx, `SELECT `+holdCols+` FROM ledger_holds WHERE `+where, args, func(r *sql.Rows) error {
		var h domain.Hold
		var created, exp, updated int64
		if err := r.Scan(&h.ID, &h.MemberID, &h.EntryID, &h.Points, &h.Captured, &h.Released, &h.Status,
			&h.Reference, &created, &exp, &updated); err != nil {
			return err
		}
		h.CreatedAt, h.ExpiresAt, h.UpdatedAt = sqldb.FromMicros(created), sqldb.FromMicros(exp), sqldb.FromMicros(updated)
		out = append(out, &h)
		return nil
	})
	return out, err
}

func (t *txn) ActiveHolds(ctx context.Context, memberIDs []string) ([]*domain.Hold, error) {
	var out []*domain.Hold
	err := inChunks(memberIDs, func(ids []string) error {
		hs, err := t.holds(ctx, `member_id IN (`+sqldb.Placeholders(1, len(ids))+`) AND status = 'active'`, anys(ids))
		out = append(out, hs...)
		return err
	})
	return out, err
}

func (t *txn) Hold(ctx context.Context, id string) (*domain.Hold, bool, error) {
	hs, err := t.holds(ctx, `hold_id = $1`, []any{id})
	if err != nil || len(hs) == 0 {
		return nil, false, err
	}
	return hs[0], true, nil
}

func (t *txn) Holds(ctx context.Context, q posting.HoldQuery) ([]*domain.Hold, error) {
	where := `member_id = $1`
	args := []any{q.MemberID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.After.ID != "" {
		at := sqldb.Micros(q.After.CreatedAt)
		where += ` AND (created_at > ` + arg(at) + ` OR (created_at = ` + arg(at) + ` AND hold_id > ` + arg(q.After.ID) + `))`
	}
	switch q.Status {
	case "":
	case domain.HoldActive:
		where += ` AND status = 'active' AND expires_at > ` + arg(sqldb.Micros(q.AsOf))
	case domain.HoldExpired:
		where += ` AND (status = 'expired' OR (status = 'active' AND expires_at <= ` + arg(sqldb.Micros(q.AsOf)) + `))`
	default:
		where += ` AND status = ` + arg(string(q.Status))
	}
	where += ` ORDER BY created_at, hold_id LIMIT ` + arg(q.Limit)
	return t.holds(ctx, where, args)
}

func (t *txn) OriginMoves(ctx context.Context, origins []string) ([]domain.LotMove, error) {
	var out []domain.LotMove
	err := inChunks(origins, func(ids []string) error {
		q := `SELECT entry_id, lot_id, origin_entry_id, points FROM ledger_lot_moves WHERE origin_entry_id IN (` +
			sqldb.Placeholders(1, len(ids)) + `) ORDER BY entry_id, lot_id`
		return t.query(ctx, q, anys(ids), func(r *sql.Rows) error {
			var m domain.LotMove
			err := r.Scan(&m.EntryID, &m.LotID, &m.OriginEntryID, &m.Points)
			out = append(out, m)
			return err
		})
	})
	return out, err
}

const entryCols = `entry_id, member_id, programme_id, seq, kind, points, base_points, tier, available_after, pending_after, held_after,
	channel, store_id, order_ref, purchase_amount, purchase_currency, uncollected, reason, operator,
	reverses_entry_id, hold_id, occurred_at, recorded_at, config_version, caller, partner_id`

// entries reads entries, FROM the given tables and conditions, with their
// postings.
func (t *txn) entries(ctx context.Context, from string, args []any) ([]*domain.Entry, error) {
	var out []*domain.Entry
	err := t.query(ctx, `SELECT `+entryCols+` FROM `+from, args, func(r *sql.Rows) error {
		var e domain.Entry
		var amount decimal.NullDecimal
		var currency, reverses, hold sql.NullString
		var occurred, recorded int64
		if err := r.Scan(&e.ID, &e.MemberID, &e.ProgrammeID, &e.Seq, &e.Kind, &e.Points, &e.BasePoints, &e.Tier, &e.AvailableAfter, &e.PendingAfter,
			&e.HeldAfter, &e.Channel, &e.StoreID, &e.OrderRef, &amount, &currency, &e.Uncollected, &e.Reason, &e.Operator,
			&reverses, &hold, &occurred, &recorded, &e.ConfigVersion, &e.Caller, &e.PartnerID); err != nil {
			return err
		}
		if amount.Valid {
			e.Purchase = &money.Money{Amount: amount.Decimal, Currency: currency.String}
		}
		e.ReversesEntryID, e.HoldID = reverses.String, hold.String
		e.OccurredAt, e.RecordedAt = sqldb.FromMicros(occurred), sqldb.FromMicros(recorded)
		out = append(out, &e)
		return nil
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	byID := make(map[string]*domain.Entry, len(out))
	ids := make([]string, len(out))
	for i, e := range out {
		byID[e.ID], ids[i] = e, e.ID
	}
	err = inChunks(ids, func(ids []string) error {
		q := `SELECT entry_id, account, amount FROM ledger_postings WHERE entry_id IN (` +
			sqldb.Placeholders(1, len(ids)) + `) ORDER BY entry_id, amount, account`
		return t.query(ctx, q, anys(ids), func(r *sql.Rows) error {
			var id string
			var p domain.Posting
			if err := r.Scan(&id, &p.Account, &p.Amount); err != nil {
				return err
			}
			byID[id].Postings = append(byID[id].Postings, p)
			return nil
		})
	})
	return out, err
}

func (t *txn) Entry(ctx context.Context, id string) (*domain.Entry, bool, error) {
	es, err := t.entries(ctx, `ledger_entries WHERE entry_id = $1`, []any{id})
	if err != nil || len(es) == 0 {
		return nil, false, err
	}
	return es[0], true, nil
}

func (t *txn) Clawbacks(ctx context.Context, entryID string) ([]*domain.Entry, error) {
	return t.entries(ctx, `ledger_entries WHERE reverses_entry_id = $1 AND kind = $2 ORDER BY seq`, []any{entryID, string(domain.EntryClawback)})
}

func (t *txn) Entries(ctx context.Context, memberID string, afterSeq int64, limit int) ([]*domain.Entry, error) {
	return t.entries(ctx, `ledger_entries WHERE member_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, []any{memberID, afterSeq, limit})
}

func (t *txn) DueMembers(ctx context.Context, programmeID string, at time.Time, afterID string, limit int) ([]string, error) {
	q := `SELECT member_id FROM ledger_members WHERE next_due_at > 0 AND next_due_at <= $1 AND member_id > $2`
	args := []any{sqldb.Micros(at), afterID, limit}
	if programmeID != "" {
		q += ` AND programme_id = $4`
		args = append(args, programmeID)
	}
	q += ` ORDER BY member_id LIMIT $3`
	var out []string
	err := t.query(ctx, q, args, func(r *sql.Rows) error {
		var id string
		err := r.Scan(&id)
		out = append(out, id)
		return err
	})
	return out, err
}
