package posting

import (
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// The forms the ledger's idempotent requests are hashed in (see
// idem.NewRequest), one type per method and version. Version 1 of each is,
// byte for byte, the JSON the ledger hashed before forms had versions, so
// that the keys written then still replay: its field names, order and JSON
// types never change (decimals are their strings, durations nanoseconds,
// times RFC 3339). A request that changes shape gets a version 2 form next
// to it; forms_test.go pins every version's hash.

// form is a request's current hash version and its form at each version.
type form struct {
	version int
	at      func(version int) any
}

func v1(f any) form { return form{version: 1, at: func(int) any { return f }} }

type moneyV1 struct {
	Amount   string `json:"Amount"`
	Currency string `json:"Currency"`
}

func moneyForm(m *money.Money) *moneyV1 {
	if m == nil {
		return nil
	}
	return &moneyV1{Amount: m.Amount.String(), Currency: m.Currency}
}

type enrolV1 struct {
	ProgrammeID    string    `json:"ProgrammeID"`
	MemberID       string    `json:"MemberID"`
	ExternalRef    string    `json:"ExternalRef"`
	BirthDate      string    `json:"BirthDate"`
	PartnerConsent bool      `json:"PartnerConsent"`
	EnrolledAt     time.Time `json:"EnrolledAt"`
	// Digest stands for the personal data of a pseudonymous enrolment.
	Digest string `json:"Digest,omitempty"`
}

// enrolForm is written field by field on purpose: the form must not follow
// Enrolment's changes (Pseudonymous is no part of it).
func enrolForm(r Enrolment) form {
	return v1(enrolV1{ProgrammeID: r.ProgrammeID, MemberID: r.MemberID, ExternalRef: r.ExternalRef, BirthDate: r.BirthDate,
		PartnerConsent: r.PartnerConsent, EnrolledAt: r.EnrolledAt, Digest: r.Digest})
}

// memberV1 is a command on a member: {"MemberID": ..., "Cmd": ...}.
type memberV1[C any] struct {
	MemberID string `json:"MemberID"`
	Cmd      C      `json:"Cmd"`
}

type earnV1 struct {
	Purchase   *moneyV1  `json:"Purchase"`
	Points     int64     `json:"Points"`
	Channel    string    `json:"Channel"`
	StoreID    string    `json:"StoreID"`
	OrderRef   string    `json:"OrderRef"`
	Reason     string    `json:"Reason"`
	OccurredAt time.Time `json:"OccurredAt"`
	PartnerID  string    `json:"PartnerID"`
}

func earnForm(memberID string, c domain.EarnCmd) form {
	return v1(memberV1[earnV1]{memberID, earnV1{Purchase: moneyForm(c.Purchase), Points: c.Points, Channel: string(c.Channel),
		StoreID: c.StoreID, OrderRef: c.OrderRef, Reason: c.Reason, OccurredAt: c.OccurredAt, PartnerID: c.PartnerID}})
}

type burnV1 struct {
	Points    int64  `json:"Points"`
	Channel   string `json:"Channel"`
	StoreID   string `json:"StoreID"`
	OrderRef  string `json:"OrderRef"`
	Reason    string `json:"Reason"`
	PartnerID string `json:"PartnerID"`
}

func burnForm(memberID string, c domain.BurnCmd) form {
	return v1(memberV1[burnV1]{memberID, burnV1{Points: c.Points, Channel: string(c.Channel), StoreID: c.StoreID,
		OrderRef: c.OrderRef, Reason: c.Reason, PartnerID: c.PartnerID}})
}

type adjustV1 struct {
	Points   int64  `json:"Points"`
	Reason   string `json:"Reason"`
	Operator string `json:"Operator"`
}

func adjustForm(memberID string, c domain.AdjustCmd) form {
	return v1(memberV1[adjustV1]{memberID, adjustV1{Points: c.Points, Reason: c.Reason, Operator: c.Operator}})
}

type holdV1 struct {
	Points    int64         `json:"Points"`
	TTL       time.Duration `json:"TTL"`
	Reference string        `json:"Reference"`
	Channel   string        `json:"Channel"`
}

func holdForm(memberID string, c domain.HoldCmd) form {
	return v1(memberV1[holdV1]{memberID, holdV1{Points: c.Points, TTL: c.TTL, Reference: c.Reference, Channel: string(c.Channel)}})
}

// holdOpV1 is Capture's and Release's form (Release's points are 0).
type holdOpV1 struct {
	HoldID string `json:"HoldID"`
	Points int64  `json:"Points"`
}

func holdOpForm(holdID string, points int64) form {
	return v1(holdOpV1{HoldID: holdID, Points: points})
}

type portionV1 struct {
	Returned *moneyV1 `json:"Returned"`
	Points   int64    `json:"Points"`
	Full     bool     `json:"Full"`
}

type reverseV1 struct {
	EntryID string    `json:"EntryID"`
	Portion portionV1 `json:"Portion"`
	Reason  string    `json:"Reason"`
	Channel string    `json:"Channel"`
	StoreID string    `json:"StoreID"`
}

func reverseForm(r Reversal) form {
	return v1(reverseV1{EntryID: r.EntryID, Portion: portionV1{Returned: moneyForm(r.Portion.Returned), Points: r.Portion.Points,
		Full: r.Portion.Full}, Reason: r.Reason, Channel: string(r.Channel), StoreID: r.StoreID})
}

type tierFloorV1 struct {
	MemberID string `json:"MemberID"`
	Tier     string `json:"Tier"`
	Reason   string `json:"Reason"`
}

func tierFloorForm(memberID, tier, reason string) form {
	return v1(tierFloorV1{MemberID: memberID, Tier: tier, Reason: reason})
}
