package store_test

import (
	"context"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
	"github.com/fidelis-loyalty/fidelis/services/rewards/store"
)

// Vouchers issued before vouchers kept their own terms take their reward's;
// rewards written before rewards had versions are at version 1 (their
// etag), and redemptions failed before their refusals were kept have
// none.
func TestMigrationBackfillsVoucherTerms(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		first, err := os.ReadFile("migrations/00001_rewards.sql")
		if err != nil {
			t.Fatal(err)
		}
		v1 := fstest.MapFS{"migrations/00001_rewards.sql": {Data: first}}
		if err := db.Migrate(ctx, v1, "migrations", "rewards_schema_version", log); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
		reward := &domain.Reward{ID: "r1", ProgrammeID: "p", State: domain.StateActive, Version: 1, CreatedAt: now, UpdatedAt: now, Terms: domain.Terms{
			Name: "10 EUR off", PointsCost: 100, Type: domain.TypeVoucherAmount,
			Amount: &money.Money{Amount: decimal.RequireFromString("10.5"), Currency: "EUR"}, VoucherValidity: time.Hour,
			StockTotal: 5, StoreIDs: []string{"paris-01", "lyon-02"}, Channels: []domain.Channel{domain.ChannelPOS},
		}}
		st := store.New(db)
		// As the first schema's store wrote it.
		if _, err := db.ExecContext(ctx, `INSERT INTO rewards_rewards (reward_id, programme_id, name, description, points_cost, type,
			amount, currency, percent, product_sku, partner_id, partner_ref, valid_from, valid_until, voucher_validity, stock_total,
			stock_allocated, member_limit, limit_period, min_tier, segments, store_ids, channels, active, created_at, updated_at)
			VALUES ('r1', 'p', '10 EUR off', '', 100, 'voucher_amount', 10.5, 'EUR', NULL, '', '', '', 0, 0, $1, 5, 0, 0, '', '', '',
			'paris-01,lyon-02', 'pos', $2, $3, $3)`, int64(time.Hour/time.Microsecond), true, sqldb.Micros(now)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO rewards_redemptions (redemption_id, reward_id, member_id, programme_id, status,
			points, hold_id, capture_entry_id, refund_entry_id, voucher_code, period_key, failure, created_at, updated_at)
			VALUES ('red-0', 'r1', 'm1', 'p', 'failed', 100, '', '', '', '', '', 'out of stock', 1, 2)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO rewards_vouchers (code, redemption_id, reward_id, member_id, status,
			issued_at, expires_at, consumed_at, consumed_store, consumed_channel, consumed_order_ref, consume_key)
			VALUES ('C', 'red-1', 'r1', 'm1', 'active', 1, 2, 0, '', '', '', '')`); err != nil {
			t.Fatal(err)
		}
		if err := store.Migrate(ctx, db, log); err != nil {
			t.Fatal(err)
		}
		var v *domain.Voucher
		if err := st.View(ctx, func(ctx context.Context, tx app.Tx) error {
			v, err = tx.Voucher(ctx, "C")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(v.Offer, reward.Offer()) || v.Status != domain.VoucherActive {
			t.Fatalf("voucher after the migration %+v, want the offer %+v", v, reward.Offer())
		}
		var r *domain.Reward
		var red *domain.Redemption
		if err := st.View(ctx, func(ctx context.Context, tx app.Tx) error {
			if r, err = tx.Reward(ctx, "r1"); err != nil {
				return err
			}
			red, err = tx.Redemption(ctx, "red-0")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r, reward) || r.Etag() != "v1" {
			t.Fatalf("reward after the migrations %+v, want %+v", r, reward)
		}
		if red.Refusal != nil || red.Failure != "out of stock" {
			t.Fatalf("redemption after the migrations %+v, want no refusal", red)
		}
	})
}
