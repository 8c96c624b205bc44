package posting

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Version 1 of every form hashes, byte for byte, as the ledger's request
// structs did before forms had versions (the hashes below were computed by
// that code), so that the keys written then still replay.
func TestFormsVersion1AreTheLegacyHashes(t *testing.T) {
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	eur := &money.Money{Amount: decimal.RequireFromString("12.34"), Currency: "EUR"}
	for _, c := range []struct {
		method, want string
		form         form
	}{
		{"Enrol", "dc238e41e2f96a0199731297483b79a4d0e45f773545045d6a591be9d11559e3", enrolForm(Enrolment{ProgrammeID: "p1",
			MemberID: "m-1", ExternalRef: "card-1", BirthDate: "1990-02-03", PartnerConsent: true, EnrolledAt: t1})},
		{"Enrol", "90303e31d9101ffacd8674b1bec02a631879a61903b51bb5284d363692c691f3", enrolForm(Enrolment{ProgrammeID: "p1", ExternalRef: "card-2"})},
		{"Earn", "2b66e6b5087263209bd957f467084ccd0ce25967f196578d6694e2453aecf6fa", earnForm("m-1", domain.EarnCmd{Purchase: eur,
			Channel: domain.ChannelPOS, StoreID: "s1", OrderRef: "o1", Reason: "r", OccurredAt: t1, PartnerID: "pa"})},
		{"Earn", "8132944199afd203929021319b08abe2a257fbae58d8ead0c811011cfb5be35d", earnForm("m-1", domain.EarnCmd{Points: 50, Channel: domain.ChannelEcommerce})},
		{"Burn", "2e146a451607ea2fb03af032b76511a74cd16f23416277f63ea1f4c4515525d6", burnForm("m-1", domain.BurnCmd{Points: 30,
			Channel: domain.ChannelPOS, StoreID: "s1", OrderRef: "o1", Reason: "r", PartnerID: "pa"})},
		{"Adjust", "2f794462861cacb8586a55a17d3f06aecb7a8ee56a4579aa78e5a3a01d102aa0", adjustForm("m-1", domain.AdjustCmd{Points: -20, Reason: "fix", Operator: "ops"})},
		{"Hold", "fd6b394bf58261b4029f908e4025bc31c4fc8a49f1cacc2ea282848322f6ccd0", holdForm("m-1", domain.HoldCmd{Points: 200,
			TTL: 5 * time.Minute, Reference: "redemption:1", Channel: domain.ChannelEcommerce})},
		{"Capture", "dd65ea61f9608bd12ae387bf17dc3d891376f669ddd64f05ae8541decdbaf5cf", holdOpForm("h-1", 150)},
		{"Release", "b12f6a7f4744b79d2de323795d9f691f5583357b71ab76ac606a1b4e876ba8b8", holdOpForm("h-1", 0)},
		{"Reverse", "5c90b54e5e851eeb69a73c93c9d16571e1f79fe2f0c2af024862347c906ce147", reverseForm(Reversal{EntryID: "e-1",
			Portion: domain.Portion{Returned: eur}, Reason: "return", Channel: domain.ChannelPOS, StoreID: "s1"})},
		{"Reverse", "6a922e17ca9ed216c6a0380e3f2266359a230f41c63e6e1ef9ae08b554e537b5", reverseForm(Reversal{EntryID: "e-1", Portion: domain.Portion{Full: true}})},
		{"Reverse", "3f35bf066ea7edc1e9ce10079e34b1e0ce74787ffca3145362a569a058453752", reverseForm(Reversal{EntryID: "e-1", Portion: domain.Portion{Points: 7}})},
		{"SetTierFloor", "166313ca2142956170bd8f4ba375802aaeb1629bf5c37ee88eb89db40d2cb7f0", tierFloorForm("m-1", "gold", "vip")},
	} {
		r, err := idem.NewRequest(c.method, c.form.version, c.form.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(r.Hash); r.Version != 1 || got != c.want {
			t.Errorf("%s: version %d hash %s, want version 1 hash %s", c.method, r.Version, got, c.want)
		}
	}
}
