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

// Vouchers issued before vouchers kept their own terms take their reward's.
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
		reward := &domain.Reward{ID: "r1", ProgrammeID: "p", Active: true, CreatedAt: now, UpdatedAt: now, Terms: domain.Terms{
			Name: "10 EUR off", PointsCost: 100, Type: domain.TypeVoucherAmount,
			Amount: &money.Money{Amount: decimal.RequireFromString("10.5"), Currency: "EUR"}, VoucherValidity: time.Hour,
			StockTotal: 5, StoreIDs: []string{"paris-01", "lyon-02"}, Channels: []domain.Channel{domain.ChannelPOS},
		}}
		st := store.New(db)
		if err := st.Update(ctx, func(ctx context.Context, tx app.Tx) error { return tx.InsertReward(ctx, reward) }); err != nil {
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
	})
}
