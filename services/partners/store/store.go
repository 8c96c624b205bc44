// Package store is the partners service's SQL store, one implementation
// for SQLite, PostgreSQL and CockroachDB.
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

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem/idemsql"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/partners/app"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the partners schema up to date.
func Migrate(ctx context.Context, db *sqldb.DB, log *slog.Logger) error {
	return db.Migrate(ctx, migrations, "migrations", "partners_schema_version", log)
}

// Schema is the partners schema's migrations, whose version a server that does
// not migrate waits for.
func Schema() sqldb.Schema {
	return sqldb.Schema{FS: migrations, Dir: "migrations", Table: "partners_schema_version"}
}

// Store implements app.Store.
type Store struct{ sqldb.Tables[app.Tx] }

// New wraps a database.
func New(db *sqldb.DB) *Store {
	return &Store{sqldb.Tables[app.Tx]{DB: db, Open: func(tx *sql.Tx) app.Tx { return newTxn(tx) }}}
}

// txn is one transaction: the service's tables, and its idempotency
// table (idem.Tx).
type txn struct {
	tx *sql.Tx
	idem.Tx
}

func newTxn(tx *sql.Tx) *txn { return &txn{tx: tx, Tx: idemTable.In(tx, app.ErrConflict)} }

func (t *txn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if sqldb.IsUniqueViolation(err) {
		return 0, fmt.Errorf("%w: %w", app.ErrConflict, err)
	}
	if err != nil {
		return 0, fmt.Errorf("%.40q: %w", q, err)
	}
	return res.RowsAffected()
}

const idemTable = idemsql.Table("partners_idempotency")

// PurgeIdem implements app.Store.
func (s *Store) PurgeIdem(ctx context.Context, before time.Time) (int, error) {
	return idemTable.Purge(ctx, s.DB, before, 0)
}

const partnerCols = `partner_id, name, programme_id, earn_unit, earn_rate, rounding, price_per_point, value_per_point,
	currency, active, salt, created_at`

func (t *txn) InsertPartner(ctx context.Context, p *domain.Partner) error {
	_, err := t.exec(ctx, `INSERT INTO partners_partners (`+partnerCols+`) VALUES (`+sqldb.Placeholders(1, 12)+`)`,
		p.ID, p.Name, p.ProgrammeID, p.EarnUnit, p.EarnRate, string(p.Rounding), p.PricePerPoint.Amount, p.ValuePerPoint.Amount,
		p.PricePerPoint.Currency, p.Active, p.Salt, sqldb.Micros(p.CreatedAt))
	return err
}

func (t *txn) Partner(ctx context.Context, id string) (*domain.Partner, error) {
	var p domain.Partner
	var created int64
	err := t.tx.QueryRowContext(ctx, `SELECT `+partnerCols+` FROM partners_partners WHERE partner_id = $1`, id).Scan(
		&p.ID, &p.Name, &p.ProgrammeID, &p.EarnUnit, &p.EarnRate, &p.Rounding, &p.PricePerPoint.Amount, &p.ValuePerPoint.Amount,
		&p.PricePerPoint.Currency, &p.Active, &p.Salt, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("partner: %w", err)
	}
	p.ValuePerPoint.Currency, p.CreatedAt = p.PricePerPoint.Currency, sqldb.FromMicros(created)
	return &p, nil
}

func (t *txn) Link(ctx context.Context, partnerID, ref string) (string, bool, error) {
	var m string
	err := t.tx.QueryRowContext(ctx, `SELECT member_id FROM partners_links WHERE partner_id = $1 AND member_ref = $2`,
		partnerID, ref).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return m, err == nil, err
}

func (t *txn) LinkOwner(ctx context.Context, ref string) (string, bool, error) {
	var p string
	err := t.tx.QueryRowContext(ctx, `SELECT partner_id FROM partners_links WHERE member_ref = $1 LIMIT 1`, ref).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return p, err == nil, err
}

func (t *txn) InsertLink(ctx context.Context, partnerID, ref, memberID string, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO partners_links (partner_id, member_ref, member_id, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (partner_id, member_ref) DO NOTHING`, partnerID, ref, memberID, sqldb.Micros(at))
	return err
}

const offerCols = `offer_id, partner_id, name, kind, multiplier, bonus_points, tiers, segments, valid_from, valid_until,
	cap_per_member, cap_period, min_interval, budget_points, spent_points, created_at`

func (t *txn) InsertOffer(ctx context.Context, o *domain.Offer) error {
	var mult any
	if !o.Multiplier.IsZero() {
		mult = o.Multiplier
	}
	_, err := t.exec(ctx, `INSERT INTO partners_offers (`+offerCols+`) VALUES (`+sqldb.Placeholders(1, 16)+`)`,
		o.ID, o.PartnerID, o.Name, string(o.Kind), mult, o.BonusPoints, strings.Join(o.Tiers, ","), strings.Join(o.Segments, ","),
		sqldb.Micros(o.ValidFrom), sqldb.Micros(o.ValidUntil), o.CapPerMember, string(o.CapPeriod), int64(o.MinInterval/time.Microsecond),
		o.BudgetPoints, o.SpentPoints, sqldb.Micros(o.CreatedAt))
	return err
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (t *txn) offers(ctx context.Context, where string, args ...any) ([]*domain.Offer, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+offerCols+` FROM partners_offers WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("offers: %w", err)
	}
	defer rows.Close()
	var out []*domain.Offer
	for rows.Next() {
		var o domain.Offer
		var mult decimal.NullDecimal
		var tiers, segments string
		var from, until, interval, created int64
		if err := rows.Scan(&o.ID, &o.PartnerID, &o.Name, &o.Kind, &mult, &o.BonusPoints, &tiers, &segments, &from, &until,
			&o.CapPerMember, &o.CapPeriod, &interval, &o.BudgetPoints, &o.SpentPoints, &created); err != nil {
			return nil, err
		}
		if mult.Valid {
			o.Multiplier = mult.Decimal
		}
		o.Tiers, o.Segments = split(tiers), split(segments)
		o.ValidFrom, o.ValidUntil, o.CreatedAt = sqldb.FromMicros(from), sqldb.FromMicros(until), sqldb.FromMicros(created)
		o.MinInterval = time.Duration(interval) * time.Microsecond
		out = append(out, &o)
	}
	return out, rows.Err()
}

func (t *txn) Offer(ctx context.Context, id string) (*domain.Offer, error) {
	os, err := t.offers(ctx, `offer_id = $1`, id)
	if err != nil || len(os) == 0 {
		return nil, err
	}
	return os[0], nil
}

// offersAfter is the condition and order of a page of offers after a
// position ($2, $3), of at most $4 rows.
const offersAfter = ` AND (created_at > $2 OR (created_at = $2 AND offer_id > $3)) ORDER BY created_at, offer_id LIMIT $4`

func (t *txn) Offers(ctx context.Context, partnerID string, after app.OfferPosition, limit int) ([]*domain.Offer, error) {
	return t.offers(ctx, `partner_id = $1`+offersAfter, partnerID, sqldb.Micros(after.CreatedAt), after.ID, limit)
}

func (t *txn) ProgrammeOffers(ctx context.Context, programmeID string, after app.OfferPosition, limit int) ([]*domain.Offer, error) {
	return t.offers(ctx, `partner_id IN (SELECT partner_id FROM partners_partners WHERE programme_id = $1)`+offersAfter,
		programmeID, sqldb.Micros(after.CreatedAt), after.ID, limit)
}

func (t *txn) SpendBudget(ctx context.Context, offerID string, points int64) (bool, error) {
	n, err := t.exec(ctx, `UPDATE partners_offers SET spent_points = spent_points + $1
		WHERE offer_id = $2 AND spent_points + $1 <= budget_points`, points, offerID)
	return n == 1, err
}

func (t *txn) ReturnBudget(ctx context.Context, offerID string, points int64) error {
	_, err := t.exec(ctx, `UPDATE partners_offers SET spent_points = spent_points - $1 WHERE offer_id = $2`, points, offerID)
	return err
}

func (t *txn) Usage(ctx context.Context, o *domain.Offer, memberID, period string) (domain.Usage, error) {
	var u domain.Usage
	var last int64
	err := t.tx.QueryRowContext(ctx, `SELECT
			COALESCE((SELECT used FROM partners_offer_usage WHERE offer_id = $1 AND member_id = $2 AND period_key = $3), 0),
			COALESCE((SELECT MAX(created_at) FROM partners_txns
				WHERE partner_id = $4 AND member_id = $2 AND offer_id <> '' AND status <> 'failed'), 0)`,
		o.ID, memberID, period, o.PartnerID).Scan(&u.Used, &last)
	if err != nil {
		return u, fmt.Errorf("offer usage: %w", err)
	}
	u.LastAt = sqldb.FromMicros(last)
	return u, nil
}

func (t *txn) CountUse(ctx context.Context, offerID, memberID, period string, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO partners_offer_usage (offer_id, member_id, period_key, used, last_at) VALUES ($1, $2, $3, 1, $4)
		ON CONFLICT (offer_id, member_id, period_key) DO UPDATE SET used = partners_offer_usage.used + 1, last_at = $4`,
		offerID, memberID, period, sqldb.Micros(at))
	return err
}

func (t *txn) ReturnUse(ctx context.Context, offerID, memberID, period string) error {
	_, err := t.exec(ctx, `UPDATE partners_offer_usage SET used = used - 1 WHERE offer_id = $1 AND member_id = $2 AND period_key = $3
		AND used > 0`, offerID, memberID, period)
	return err
}

const txnCols = `txn_id, partner_id, member_id, programme_id, kind, status, amount, unit, points, bonus_points, offer_id,
	period_key, money_micros, currency, reference, entry_id, failure, occurred_at, created_at, updated_at, failure_reason`

func txnArgs(x *domain.Txn) []any {
	var amount any
	if x.Kind == domain.TxnEarn {
		amount = x.Amount
	}
	return []any{x.ID, x.PartnerID, x.MemberID, x.ProgrammeID, string(x.Kind), string(x.Status), amount, x.Unit, x.Points,
		x.BonusPoints, x.OfferID, x.PeriodKey, x.MoneyMicros, x.Currency, x.Reference, x.EntryID, x.Failure, sqldb.Micros(x.OccurredAt),
		sqldb.Micros(x.CreatedAt), sqldb.Micros(x.UpdatedAt), string(x.FailureReason)}
}

func (t *txn) InsertTxn(ctx context.Context, x *domain.Txn) error {
	_, err := t.exec(ctx, `INSERT INTO partners_txns (`+txnCols+`) VALUES (`+sqldb.Placeholders(1, 21)+`)`, txnArgs(x)...)
	return err
}

func (t *txn) UpdateTxn(ctx context.Context, x *domain.Txn, from domain.TxnStatus) error {
	n, err := t.exec(ctx, `UPDATE partners_txns SET status = $2, entry_id = $3, failure = $4, failure_reason = $5, updated_at = $6
		WHERE txn_id = $1 AND status = $7`, x.ID, string(x.Status), x.EntryID, x.Failure, string(x.FailureReason), sqldb.Micros(x.UpdatedAt),
		string(from))
	if err == nil && n != 1 {
		err = fmt.Errorf("%w: transaction %s is no longer %s", app.ErrConflict, x.ID, from)
	}
	return err
}

func (t *txn) txns(ctx context.Context, where string, args ...any) ([]*domain.Txn, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+txnCols+` FROM partners_txns WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("partner transactions: %w", err)
	}
	defer rows.Close()
	var out []*domain.Txn
	for rows.Next() {
		var x domain.Txn
		var amount decimal.NullDecimal
		var occurred, created, updated int64
		if err := rows.Scan(&x.ID, &x.PartnerID, &x.MemberID, &x.ProgrammeID, &x.Kind, &x.Status, &amount, &x.Unit, &x.Points,
			&x.BonusPoints, &x.OfferID, &x.PeriodKey, &x.MoneyMicros, &x.Currency, &x.Reference, &x.EntryID, &x.Failure,
			&occurred, &created, &updated, &x.FailureReason); err != nil {
			return nil, err
		}
		x.Amount = amount.Decimal
		x.OccurredAt, x.CreatedAt, x.UpdatedAt = sqldb.FromMicros(occurred), sqldb.FromMicros(created), sqldb.FromMicros(updated)
		out = append(out, &x)
	}
	return out, rows.Err()
}

func (t *txn) Txn(ctx context.Context, id string) (*domain.Txn, error) {
	xs, err := t.txns(ctx, `txn_id = $1`, id)
	if err != nil || len(xs) == 0 {
		return nil, err
	}
	return xs[0], nil
}

func (t *txn) PendingTxns(ctx context.Context, after, before time.Time, limit int) ([]*domain.Txn, error) {
	return t.txns(ctx, `status = 'pending' AND updated_at > $1 AND updated_at < $2 ORDER BY updated_at LIMIT $3`,
		sqldb.Micros(after), sqldb.Micros(before), limit)
}

func (t *txn) Statement(ctx context.Context, partnerID string, from, to time.Time) (*domain.Statement, error) {
	st := &domain.Statement{PartnerID: partnerID, From: from, To: to}
	err := t.tx.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN kind = 'earn' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN kind = 'burn' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN kind = 'earn' THEN bonus_points ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN kind = 'burn' THEN points ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN kind = 'earn' THEN money_micros ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN kind = 'burn' THEN money_micros ELSE 0 END), 0)
		FROM partners_txns WHERE partner_id = $1 AND status = 'completed' AND updated_at >= $2 AND updated_at < $3`,
		partnerID, sqldb.Micros(from), sqldb.Micros(to)).Scan(&st.EarnCount, &st.BurnCount, &st.PointsIssued, &st.BonusPointsIssued, &st.PointsBurned,
		&st.OwedByPartnerMicro, &st.OwedToPartnerMicro)
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return st, nil
}
