package app

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// Version 1 of every form hashes, byte for byte, as the service's request
// structs did before forms had versions (the hashes below were computed by
// that code), so that the keys written then still replay.
func TestFormsVersion1AreTheLegacyHashes(t *testing.T) {
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	t2 := time.Date(2027, 6, 7, 8, 9, 10, 0, time.UTC)
	terms := domain.Terms{Name: "Mug", Description: "A mug", PointsCost: 100, Type: domain.TypeVoucherAmount,
		Amount: &money.Money{Amount: decimal.RequireFromString("5.50"), Currency: "EUR"}, Percent: decimal.RequireFromString("12.5"),
		ProductSKU: "SKU-1", PartnerID: "pa-1", PartnerRef: "pr-1", ValidFrom: t1, ValidUntil: t2, VoucherValidity: 720 * time.Hour,
		StockTotal: 10, MemberLimit: 2, LimitPeriod: period.Month, MinTier: "gold", Segments: []string{"loyal", "champions"},
		StoreIDs: []string{"s1"}, Channels: []domain.Channel{"pos", "ecommerce"}}
	for _, c := range []struct {
		want string
		req  func() (idem.Request, error)
	}{
		{"9d1de4295cad01710675ddf3186a94eb9972e8c0ec9d70f0d3a1829999ec7737", func() (idem.Request, error) {
			return redeemRequest(RedeemRequest{MemberID: "m-1", RewardID: "r-1", Channel: "pos", StoreID: "paris-01"})
		}},
		{"d140323e2d891b3e31de12dec4145aac743a9e36d650f210f3fcab1cddb68897", func() (idem.Request, error) {
			return cancelRedemptionRequest("red-1", "changed mind")
		}},
		{"9c5a4f65200623e2915ced6d5afe015275c0b333b54b9c701bb29a5c1ebea59c", func() (idem.Request, error) {
			return createRewardRequest("p1", terms)
		}},
		{"3f05013fbb42a91a66e1b985f9788ebec6dc8e3528c40658f2f291b07613713e", func() (idem.Request, error) {
			return createRewardRequest("p1", domain.Terms{Name: "Empty"})
		}},
		{"07299f33e5ea7732eea0199af83c9c0c7d127c2ec76e11cfaa56b02fd7f4d8fe", func() (idem.Request, error) {
			return updateRewardRequest(RewardUpdate{RewardID: "r-1", Terms: terms})
		}},
		{"cfda9f0eb8837e5e8cc4b8052ce4511e26c099c0e0694fd63c57c4ffaa4c6b3f", func() (idem.Request, error) {
			return deactivateRewardRequest("r-1", "")
		}},
		{"84949c19d710172e80faf20598fdd2dfa043730486c6472b9f753c66d00ca960", func() (idem.Request, error) {
			return consumeVoucherRequest(Consumption{Code: "M6E24HNYEF6QT50XN", StoreID: "paris-01", Channel: "pos", OrderRef: "R-1"})
		}},
	} {
		r, err := c.req()
		if err != nil {
			t.Fatal(err)
		}
		h, err := r.HashAt(1)
		if err != nil {
			t.Fatalf("%s: %v", r.Method, err)
		}
		if got := hex.EncodeToString(h); got != c.want {
			t.Errorf("%s: version 1 hash %s, want %s", r.Method, got, c.want)
		}
	}
}

// Version 2 of UpdateReward (mask and etag) and DeactivateReward (etag)
// is pinned too; a request version 1 cannot express has no version 1
// hash, so that a key written by it never matches one.
func TestFormsVersion2(t *testing.T) {
	terms := domain.Terms{Name: "Mug", PointsCost: 100, Type: domain.TypeFreeProduct, ProductSKU: "SKU-1", VoucherValidity: time.Hour, StockTotal: 3}
	for _, c := range []struct {
		want string
		req  func() (idem.Request, error)
	}{
		{"e96a449260d99413f35afab5720d8acd56683c0000d9718bdbe8f1bdebc9e8d1", func() (idem.Request, error) {
			return updateRewardRequest(RewardUpdate{RewardID: "r-1", Terms: terms, Fields: []domain.TermsField{domain.FieldName}, Etag: "v2"})
		}},
		{"725d8e4ec690b4f604362cd8844fd772a5d114db89c7574dfae6f8b1c7601682", func() (idem.Request, error) {
			return deactivateRewardRequest("r-1", "v2")
		}},
	} {
		r, err := c.req()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(r.Hash); r.Version != 2 || got != c.want {
			t.Errorf("%s: version %d hash %s, want version 2 hash %s", r.Method, r.Version, got, c.want)
		}
		if _, err := r.HashAt(1); err == nil {
			t.Errorf("%s: a version 1 hash of a request version 1 cannot express", r.Method)
		}
	}
}
