package app

import (
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// The forms the partners service's idempotent requests are hashed in (see
// idem.NewRequest), one type per method and version. Version 1 of each is,
// byte for byte, the JSON the service hashed before forms had versions, so
// that the keys written then still replay: its field names, order and JSON
// types never change (decimals are their strings, as decimal.Decimal
// wrote them). A request that changes shape gets a version 2 form next to
// it (forms_test.go pins every version's hash).

type earnV1 struct {
	MemberRef   string    `json:"MemberRef"`
	Amount      string    `json:"Amount"`
	Unit        string    `json:"Unit"`
	Reference   string    `json:"Reference"`
	OccurredAt  time.Time `json:"OccurredAt"`
	OfferID     string    `json:"OfferID"`
	ProgrammeID string    `json:"ProgrammeID"`
}

// earnRequest hashes the request as sent: a retry without occurred_at is
// the same request.
func earnRequest(r EarnRequest) (idem.Request, error) {
	return idem.NewRequest("Earn", 1, func(int) any {
		return earnV1{MemberRef: r.MemberRef, Amount: r.Amount.String(), Unit: r.Unit, Reference: r.Reference,
			OccurredAt: r.OccurredAt, OfferID: r.OfferID, ProgrammeID: r.ProgrammeID}
	})
}

type burnV1 struct {
	MemberRef string `json:"MemberRef"`
	Reference string `json:"Reference"`
	Points    int64  `json:"Points"`
}

func burnRequest(ref, reference string, points int64) (idem.Request, error) {
	return idem.NewRequest("Burn", 1, func(int) any { return burnV1{MemberRef: ref, Reference: reference, Points: points} })
}

type moneyV1 struct {
	Amount   string `json:"Amount"`
	Currency string `json:"Currency"`
}

func moneyForm(m money.Money) moneyV1 {
	return moneyV1{Amount: m.Amount.String(), Currency: m.Currency}
}

type createPartnerV1 struct {
	Name          string  `json:"Name"`
	ProgrammeID   string  `json:"ProgrammeID"`
	EarnUnit      string  `json:"EarnUnit"`
	EarnRate      string  `json:"EarnRate"`
	Rounding      string  `json:"Rounding"`
	PricePerPoint moneyV1 `json:"PricePerPoint"`
	ValuePerPoint moneyV1 `json:"ValuePerPoint"`
}

func createPartnerRequest(np NewPartner) (idem.Request, error) {
	return idem.NewRequest("CreatePartner", 1, func(int) any {
		return createPartnerV1{Name: np.Name, ProgrammeID: np.ProgrammeID, EarnUnit: np.EarnUnit, EarnRate: np.EarnRate.String(),
			Rounding: string(np.Rounding), PricePerPoint: moneyForm(np.PricePerPoint), ValuePerPoint: moneyForm(np.ValuePerPoint)}
	})
}

type offerTermsV1 struct {
	Name         string        `json:"Name"`
	Kind         string        `json:"Kind"`
	Multiplier   string        `json:"Multiplier"`
	BonusPoints  int64         `json:"BonusPoints"`
	Tiers        []string      `json:"Tiers"`
	Segments     []string      `json:"Segments"`
	ValidFrom    time.Time     `json:"ValidFrom"`
	ValidUntil   time.Time     `json:"ValidUntil"`
	CapPerMember int           `json:"CapPerMember"`
	CapPeriod    string        `json:"CapPeriod"`
	MinInterval  time.Duration `json:"MinInterval"`
	BudgetPoints int64         `json:"BudgetPoints"`
}

type createOfferV1 struct {
	PartnerID string       `json:"PartnerID"`
	Terms     offerTermsV1 `json:"Terms"`
}

func createOfferRequest(partnerID string, t domain.OfferTerms) (idem.Request, error) {
	return idem.NewRequest("CreateOffer", 1, func(int) any {
		return createOfferV1{PartnerID: partnerID, Terms: offerTermsV1{
			Name: t.Name, Kind: string(t.Kind), Multiplier: t.Multiplier.String(), BonusPoints: t.BonusPoints, Tiers: t.Tiers,
			Segments: t.Segments, ValidFrom: t.ValidFrom, ValidUntil: t.ValidUntil, CapPerMember: t.CapPerMember,
			CapPeriod: string(t.CapPeriod), MinInterval: t.MinInterval, BudgetPoints: t.BudgetPoints,
		}}
	})
}

// linkMemberRequest: version 1 is the card number alone, a JSON string.
func linkMemberRequest(card string) (idem.Request, error) {
	return idem.NewRequest("LinkMember", 1, func(int) any { return card })
}
