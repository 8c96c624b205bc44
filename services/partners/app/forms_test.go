package app

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// Version 1 of every form hashes, byte for byte, as the service's request
// structs did before forms had versions (the hashes below were computed by
// that code), so that the keys written then still replay.
func TestFormsVersion1AreTheLegacyHashes(t *testing.T) {
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	t2 := time.Date(2027, 6, 7, 8, 9, 10, 0, time.UTC)
	for _, c := range []struct {
		want string
		req  func() (idem.Request, error)
	}{
		{"7e572705cf080f91060192d2de44c9f8813d361e5946c6534149b11ee985d45e", func() (idem.Request, error) {
			return earnRequest(EarnRequest{MemberRef: "pm_x", Amount: decimal.RequireFromString("1234.5"), Unit: "MILES", Reference: "AF123",
				OccurredAt: t1, OfferID: "o-1", ProgrammeID: "p1"})
		}},
		{"e6499cb16a9f06f49393cc2983b6dd187513566cca9c0eefa0a627605fd9d2dd", func() (idem.Request, error) {
			return earnRequest(EarnRequest{MemberRef: "pm_x", Amount: decimal.RequireFromString("20"), Unit: "EUR"})
		}},
		{"de10c27824a588b9666d98fbc557c924cb2c7a46238113b524013e4e4a8f6da2", func() (idem.Request, error) {
			return burnRequest("pm_x", "hotel-night", 50)
		}},
		{"5714e5b018a1fd85c624fca4ad2457e3fb980a56d920dab11c680d7e3d2760a7", func() (idem.Request, error) {
			return createPartnerRequest(NewPartner{Name: "SkyAir", ProgrammeID: "p1", EarnUnit: "MILES", EarnRate: decimal.RequireFromString("0.1"),
				Rounding: money.RoundHalfUp, PricePerPoint: money.Money{Amount: decimal.RequireFromString("0.01"), Currency: "EUR"},
				ValuePerPoint: money.Money{Amount: decimal.RequireFromString("0.008"), Currency: "EUR"}})
		}},
		{"fdba1d256cdbe412ef180e75b3e370f340f8c32d0f4c767ce77605ddf30619cb", func() (idem.Request, error) {
			return createOfferRequest("pa-1", domain.OfferTerms{Name: "Bonus", Kind: domain.OfferMultiplier, Multiplier: decimal.RequireFromString("1.5"),
				BonusPoints: 7, Tiers: []string{"gold"}, Segments: []string{"loyal"}, ValidFrom: t1, ValidUntil: t2, CapPerMember: 3,
				CapPeriod: period.Week, MinInterval: 90 * time.Minute, BudgetPoints: 5000})
		}},
		{"94989407f060acc9792f879dc606b8e67e1ab101168bab90fe181a02612fe611", func() (idem.Request, error) {
			return linkMemberRequest("CARD-0001")
		}},
	} {
		r, err := c.req()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(r.Hash); r.Version != 1 || got != c.want {
			t.Errorf("%s: version %d hash %s, want version 1 hash %s", r.Method, r.Version, got, c.want)
		}
	}
}
