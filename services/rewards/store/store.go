// Package store is the rewards service's SQL store, one implementation for
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

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem/idemsql"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the rewards schema up to date.
func Migrate(ctx context.Context, db *sqldb.DB, log *slog.Logger) error {
	return db.Migrate(ctx, migrations, "migrations", "rewards_schema_version", log)
}

// Schema is the rewards schema's migrations, whose version a server that does
// not migrate waits for.
func Schema() sqldb.Schema {
	return sqldb.Schema{FS: migrations, Dir: "migrations", Table: "rewards_schema_version"}
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

func conflict(err error) error {
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", app.ErrConflict, err)
	}
	return err
}

func (t *txn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, conflict(fmt.Errorf("%.40q: %w", q, err))
	}
	return res.RowsAffected()
}

const idemTable = idemsql.Table("rewards_idempotency")

// PurgeIdem implements app.Store.
func (s *Store) PurgeIdem(ctx context.Context, before time.Time) (int, error) {
	return idemTable.Purge(ctx, s.DB, before, 0)
}

const rewardCols = `reward_id, programme_id, name, description, points_cost, type, amount, currency, percent, product_sku,
	partner_id, partner_ref, valid_from, valid_until, voucher_validity, stock_total, stock_allocated, member_limit,
	limit_period, min_tier, segments, store_ids, channels, active, created_at, updated_at, version`

// value is the columns amount, currency and percent of a reward or voucher
// (NULL when absent).
func value(m *money.Money, percent decimal.Decimal) (amount, currency, pct any) {
	if m != nil {
		amount, currency = m.Amount, m.Currency
	}
	if !percent.IsZero() {
		pct = percent
	}
	return amount, currency, pct
}

// valueOf reads the columns amount, currency and percent back.
func valueOf(amount, percent decimal.NullDecimal, currency sql.NullString) (*money.Money, decimal.Decimal) {
	var m *money.Money
	if amount.Valid {
		m = &money.Money{Amount: amount.Decimal, Currency: currency.String}
	}
	return m, percent.Decimal
}

func joinChannels(cs []domain.Channel) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return join(s)
}

func splitChannels(s string) []domain.Channel {
	var out []domain.Channel
	for _, c := range split(s) {
		out = append(out, domain.Channel(c))
	}
	return out
}

func rewardArgs(r *domain.Reward) []any {
	amount, currency, percent := value(r.Amount, r.Percent)
	return []any{r.ID, r.ProgrammeID, r.Name, r.Description, r.PointsCost, string(r.Type), amount, currency, percent,
		r.ProductSKU, r.PartnerID, r.PartnerRef, sqldb.Micros(r.ValidFrom), sqldb.Micros(r.ValidUntil), int64(r.VoucherValidity / time.Microsecond),
		r.StockTotal, r.StockAllocated, r.MemberLimit, string(r.LimitPeriod), r.MinTier, join(r.Segments),
		join(r.StoreIDs), joinChannels(r.Channels), r.State == domain.StateActive, sqldb.Micros(r.CreatedAt), sqldb.Micros(r.UpdatedAt),
		r.Version}
}

// join writes a list as one column: its items separated by commas, a
// comma or backslash in an item escaped by a backslash (lists written
// before items could hold either read the same).
func join(items []string) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		for _, c := range []byte(it) {
			if c == ',' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// split reads a list join wrote; nil for none.
func split(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	var cur []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			cur = append(cur, s[i])
		case c == ',':
			out = append(out, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	return append(out, string(cur))
}

func (t *txn) rewards(ctx context.Context, where string, args ...any) ([]*domain.Reward, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+rewardCols+` FROM rewards_rewards WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("rewards: %w", err)
	}
	defer rows.Close()
	var out []*domain.Reward
	for rows.Next() {
		var r domain.Reward
		var amount, percent decimal.NullDecimal
		var currency sql.NullString
		var from, until, validity, created, updated int64
		var segments, stores, channels string
		var active bool
		if err := rows.Scan(&r.ID, &r.ProgrammeID, &r.Name, &r.Description, &r.PointsCost, &r.Type, &amount, &currency, &percent,
			&r.ProductSKU, &r.PartnerID, &r.PartnerRef, &from, &until, &validity, &r.StockTotal, &r.StockAllocated, &r.MemberLimit,
			&r.LimitPeriod, &r.MinTier, &segments, &stores, &channels, &active, &created, &updated, &r.Version); err != nil {
			return nil, fmt.Errorf("scan reward: %w", err)
		}
		r.State = domain.StateInactive
		if active {
			r.State = domain.StateActive
		}
		r.Amount, r.Percent = valueOf(amount, percent, currency)
		r.ValidFrom, r.ValidUntil, r.CreatedAt, r.UpdatedAt = sqldb.FromMicros(from), sqldb.FromMicros(until), sqldb.FromMicros(created), sqldb.FromMicros(updated)
		r.VoucherValidity = time.Duration(validity) * time.Microsecond
		r.Segments, r.StoreIDs, r.Channels = split(segments), split(stores), splitChannels(channels)
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (t *txn) InsertReward(ctx context.Context, r *domain.Reward) error {
	_, err := t.exec(ctx, `INSERT INTO rewards_rewards (`+rewardCols+`) VALUES (`+sqldb.Placeholders(1, 27)+`)`, rewardArgs(r)...)
	return err
}

func (t *txn) UpdateReward(ctx context.Context, r *domain.Reward, from int64) error {
	a := rewardArgs(r)
	got, err := t.exec(ctx, `UPDATE rewards_rewards SET name = $2, description = $3, points_cost = $4, type = $5, amount = $6,
		currency = $7, percent = $8, product_sku = $9, partner_id = $10, partner_ref = $11, valid_from = $12, valid_until = $13,
		voucher_validity = $14, stock_total = $15, member_limit = $16, limit_period = $17, min_tier = $18, segments = $19,
		store_ids = $20, channels = $21, active = $22, updated_at = $23, version = $24 WHERE reward_id = $1 AND version = $25`,
		a[0], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[17], a[18], a[19],
		a[20], a[21], a[22], a[23], a[25], a[26], from)
	if err == nil && got != 1 {
		err = fmt.Errorf("%w: reward %s is no longer at version %d", app.ErrConflict, r.ID, from)
	}
	return err
}

func (t *txn) Reward(ctx context.Context, id string) (*domain.Reward, error) {
	rs, err := t.rewards(ctx, `reward_id = $1`, id)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return rs[0], nil
}

func (t *txn) Rewards(ctx context.Context, q app.RewardsQuery) ([]*domain.Reward, error) {
	where, args := `programme_id = $1`, []any{q.ProgrammeID}
	if !q.IncludeInactive {
		where += ` AND active`
	}
	if a := q.After; a != nil {
		where += ` AND (points_cost, name, reward_id) > ($2, $3, $4)`
		args = append(args, a.PointsCost, a.Name, a.ID)
	}
	args = append(args, q.Limit)
	return t.rewards(ctx, where+fmt.Sprintf(` ORDER BY points_cost, name, reward_id LIMIT $%d`, len(args)), args...)
}

func (t *txn) AllocateStock(ctx context.Context, rewardID string, n int64) (bool, error) {
	got, err := t.exec(ctx, `UPDATE rewards_rewards SET stock_allocated = stock_allocated + $1
		WHERE reward_id = $2 AND stock_allocated + $1 <= stock_total`, n, rewardID)
	return got == 1, err
}

func (t *txn) ReturnStock(ctx context.Context, rewardID string, n int64) error {
	_, err := t.exec(ctx, `UPDATE rewards_rewards SET stock_allocated = stock_allocated - $1 WHERE reward_id = $2`, n, rewardID)
	return err
}

func (t *txn) UseLimit(ctx context.Context, member, reward, period string, limit int) (bool, error) {
	if limit <= 0 {
		return true, nil
	}
	got, err := t.exec(ctx, `INSERT INTO rewards_member_usage (member_id, reward_id, period_key, used) VALUES ($1, $2, $3, 1)
		ON CONFLICT (member_id, reward_id, period_key) DO UPDATE SET used = rewards_member_usage.used + 1
		WHERE rewards_member_usage.used < $4`, member, reward, period, limit)
	return got == 1, err
}

func (t *txn) ReturnLimit(ctx context.Context, member, reward, period string) error {
	_, err := t.exec(ctx, `UPDATE rewards_member_usage SET used = used - 1
		WHERE member_id = $1 AND reward_id = $2 AND period_key = $3 AND used > 0`, member, reward, period)
	return err
}

func (t *txn) Usage(ctx context.Context, member string, periods map[string]string) (map[string]int, error) {
	out := map[string]int{}
	rows, err := t.tx.QueryContext(ctx, `SELECT reward_id, period_key, used FROM rewards_member_usage WHERE member_id = $1`, member)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var reward, period string
		var used int
		if err := rows.Scan(&reward, &period, &used); err != nil {
			return nil, err
		}
		if periods[reward] == period {
			out[reward] = used
		}
	}
	return out, rows.Err()
}

const redemptionCols = `redemption_id, reward_id, member_id, programme_id, status, points, hold_id, capture_entry_id,
	refund_entry_id, voucher_code, period_key, failure, created_at, updated_at, failure_reason, failure_refusal`

// refusalCols are the columns failure_reason and failure_refusal of a
// redemption's refusal: its reason, and the whole refusal as an
// idempotency record keeps one (empty for none).
func refusalCols(f *fault.Error) (reason, refusal string, err error) {
	if f == nil {
		return "", "", nil
	}
	b, err := idem.EncodeReply(nil, f)
	if err != nil {
		return "", "", fmt.Errorf("redemption refusal: %w", err)
	}
	return string(fault.ReasonOf(f)), string(b), nil
}

// refusalOf reads the column failure_refusal back.
func refusalOf(col string) (*fault.Error, error) {
	if col == "" {
		return nil, nil
	}
	_, err := idem.DecodeReply[struct{}]([]byte(col))
	f, ok := fault.As(err)
	if !ok {
		return nil, fmt.Errorf("redemption refusal %q: %w", col, err)
	}
	return f, nil
}

func redemptionArgs(r *domain.Redemption) ([]any, error) {
	reason, refusal, err := refusalCols(r.Refusal)
	return []any{r.ID, r.RewardID, r.MemberID, r.ProgrammeID, string(r.Status), r.Points, r.HoldID, r.CaptureEntryID,
		r.RefundEntryID, r.VoucherCode, r.PeriodKey, r.Failure, sqldb.Micros(r.CreatedAt), sqldb.Micros(r.UpdatedAt),
		reason, refusal}, err
}

func (t *txn) InsertRedemption(ctx context.Context, r *domain.Redemption) error {
	args, err := redemptionArgs(r)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO rewards_redemptions (`+redemptionCols+`) VALUES (`+sqldb.Placeholders(1, 16)+`)`, args...)
	return err
}

func (t *txn) UpdateRedemption(ctx context.Context, r *domain.Redemption, from domain.RedemptionStatus) error {
	args, err := redemptionArgs(r)
	if err != nil {
		return err
	}
	got, err := t.exec(ctx, `UPDATE rewards_redemptions SET status = $5, points = $6, hold_id = $7, capture_entry_id = $8,
		refund_entry_id = $9, voucher_code = $10, period_key = $11, failure = $12, updated_at = $14, failure_reason = $15,
		failure_refusal = $16
		WHERE redemption_id = $1 AND reward_id = $2 AND member_id = $3 AND programme_id = $4 AND created_at = $13 AND status = $17`,
		append(args, string(from))...)
	if err == nil && got != 1 {
		err = fmt.Errorf("%w: redemption %s is no longer %s", app.ErrConflict, r.ID, from)
	}
	return err
}

func (t *txn) redemptions(ctx context.Context, where string, args ...any) ([]*domain.Redemption, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+redemptionCols+` FROM rewards_redemptions WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("redemptions: %w", err)
	}
	defer rows.Close()
	var out []*domain.Redemption
	for rows.Next() {
		var r domain.Redemption
		var created, updated int64
		var reason, refusal string
		if err := rows.Scan(&r.ID, &r.RewardID, &r.MemberID, &r.ProgrammeID, &r.Status, &r.Points, &r.HoldID, &r.CaptureEntryID,
			&r.RefundEntryID, &r.VoucherCode, &r.PeriodKey, &r.Failure, &created, &updated, &reason, &refusal); err != nil {
			return nil, err
		}
		var err error
		if r.Refusal, err = refusalOf(refusal); err != nil {
			return nil, err
		}
		r.CreatedAt, r.UpdatedAt = sqldb.FromMicros(created), sqldb.FromMicros(updated)
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (t *txn) Redemption(ctx context.Context, id string) (*domain.Redemption, error) {
	rs, err := t.redemptions(ctx, `redemption_id = $1`, id)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return rs[0], nil
}

func (t *txn) Unfinished(ctx context.Context, after, before time.Time, limit int) ([]*domain.Redemption, error) {
	return t.redemptions(ctx, `status IN ('started', 'pending', 'cancelling') AND updated_at > $1 AND updated_at < $2
		ORDER BY updated_at LIMIT $3`, sqldb.Micros(after), sqldb.Micros(before), limit)
}

func (t *txn) MemberRedemptions(ctx context.Context, memberID string, after *app.RedemptionCursor, limit int) ([]*domain.Redemption, error) {
	if after == nil {
		return t.redemptions(ctx, `member_id = $1 ORDER BY created_at DESC, redemption_id DESC LIMIT $2`, memberID, limit)
	}
	return t.redemptions(ctx, `member_id = $1 AND (created_at < $2 OR created_at = $2 AND redemption_id < $3)
		ORDER BY created_at DESC, redemption_id DESC LIMIT $4`, memberID, after.CreatedAt, after.ID, limit)
}

// voucherCols: a voucher's offer (type to channels) is written once, when
// it is reserved, and never updated.
const voucherCols = `code, redemption_id, reward_id, member_id, status, issued_at, expires_at, consumed_at, consumed_store,
	consumed_channel, consumed_order_ref, consume_key, type, amount, currency, percent, product_sku, partner_id, partner_ref,
	store_ids, channels`

func voucherArgs(v *domain.Voucher) []any {
	amount, currency, percent := value(v.Amount, v.Percent)
	return []any{v.Code, v.RedemptionID, v.RewardID, v.MemberID, string(v.Status), sqldb.Micros(v.IssuedAt), sqldb.Micros(v.ExpiresAt),
		sqldb.Micros(v.ConsumedAt), v.ConsumedStore, string(v.ConsumedChannel), v.ConsumedOrderRef, v.ConsumeKey, string(v.Type),
		amount, currency, percent, v.ProductSKU, v.PartnerID, v.PartnerRef, join(v.StoreIDs), joinChannels(v.Channels)}
}

func (t *txn) InsertVoucher(ctx context.Context, v *domain.Voucher) error {
	_, err := t.exec(ctx, `INSERT INTO rewards_vouchers (`+voucherCols+`) VALUES (`+sqldb.Placeholders(1, 21)+`)`, voucherArgs(v)...)
	return err
}

func (t *txn) UpdateVoucher(ctx context.Context, v *domain.Voucher, from domain.VoucherStatus) error {
	got, err := t.exec(ctx, `UPDATE rewards_vouchers SET status = $5, issued_at = $6, expires_at = $7, consumed_at = $8,
		consumed_store = $9, consumed_channel = $10, consumed_order_ref = $11, consume_key = $12
		WHERE code = $1 AND redemption_id = $2 AND reward_id = $3 AND member_id = $4 AND status = $13`,
		append(voucherArgs(v)[:12], string(from))...)
	if err == nil && got != 1 {
		err = fmt.Errorf("%w: voucher is no longer %s", app.ErrConflict, from)
	}
	return err
}

func (t *txn) Voucher(ctx context.Context, code string) (*domain.Voucher, error) {
	var v domain.Voucher
	var issued, expires, consumed int64
	var amount, percent decimal.NullDecimal
	var currency sql.NullString
	var stores, channels string
	err := t.tx.QueryRowContext(ctx, `SELECT `+voucherCols+` FROM rewards_vouchers WHERE code = $1`, code).Scan(
		&v.Code, &v.RedemptionID, &v.RewardID, &v.MemberID, &v.Status, &issued, &expires, &consumed, &v.ConsumedStore,
		&v.ConsumedChannel, &v.ConsumedOrderRef, &v.ConsumeKey, &v.Type, &amount, &currency, &percent, &v.ProductSKU,
		&v.PartnerID, &v.PartnerRef, &stores, &channels)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("voucher: %w", err)
	}
	v.IssuedAt, v.ExpiresAt, v.ConsumedAt = sqldb.FromMicros(issued), sqldb.FromMicros(expires), sqldb.FromMicros(consumed)
	v.Amount, v.Percent = valueOf(amount, percent, currency)
	v.StoreIDs, v.Channels = split(stores), splitChannels(channels)
	return &v, nil
}
