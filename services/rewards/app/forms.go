package app

import (
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// The forms the rewards service's idempotent requests are hashed in (see
// idem.NewRequest), one type per method and version. Version 1 of each is,
// byte for byte, the JSON the service hashed before forms had versions, so
// that the keys written then still replay: its field names, order and JSON
// types never change (decimals are their strings, as decimal.Decimal
// wrote them). A request that changes shape gets a version 2 form next to
// it (forms_test.go pins every version's hash).

type redeemV1 struct {
	MemberID string `json:"MemberID"`
	RewardID string `json:"RewardID"`
	Channel  string `json:"Channel"`
	StoreID  string `json:"StoreID"`
}

func redeemRequest(q RedeemRequest) (idem.Request, error) {
	return idem.NewRequest("Redeem", 1, func(int) any {
		return redeemV1{MemberID: q.MemberID, RewardID: q.RewardID, Channel: string(q.Channel), StoreID: q.StoreID}
	})
}

// cancelRedemptionRequest: version 1 is the JSON array [redemption id,
// reason].
func cancelRedemptionRequest(redemptionID, reason string) (idem.Request, error) {
	return idem.NewRequest("CancelRedemption", 1, func(int) any { return [2]string{redemptionID, reason} })
}

type moneyV1 struct {
	Amount   string `json:"Amount"`
	Currency string `json:"Currency"`
}

type termsV1 struct {
	Name            string        `json:"Name"`
	Description     string        `json:"Description"`
	PointsCost      int64         `json:"PointsCost"`
	Type            string        `json:"Type"`
	Amount          *moneyV1      `json:"Amount"`
	Percent         string        `json:"Percent"`
	ProductSKU      string        `json:"ProductSKU"`
	PartnerID       string        `json:"PartnerID"`
	PartnerRef      string        `json:"PartnerRef"`
	ValidFrom       time.Time     `json:"ValidFrom"`
	ValidUntil      time.Time     `json:"ValidUntil"`
	VoucherValidity time.Duration `json:"VoucherValidity"`
	StockTotal      int64         `json:"StockTotal"`
	MemberLimit     int           `json:"MemberLimit"`
	LimitPeriod     string        `json:"LimitPeriod"`
	MinTier         string        `json:"MinTier"`
	Segments        []string      `json:"Segments"`
	StoreIDs        []string      `json:"StoreIDs"`
	Channels        []string      `json:"Channels"`
}

func termsForm(t domain.Terms) termsV1 {
	f := termsV1{
		Name: t.Name, Description: t.Description, PointsCost: t.PointsCost, Type: string(t.Type), Percent: t.Percent.String(),
		ProductSKU: t.ProductSKU, PartnerID: t.PartnerID, PartnerRef: t.PartnerRef, ValidFrom: t.ValidFrom, ValidUntil: t.ValidUntil,
		VoucherValidity: t.VoucherValidity, StockTotal: t.StockTotal, MemberLimit: t.MemberLimit, LimitPeriod: string(t.LimitPeriod),
		MinTier: t.MinTier, Segments: t.Segments, StoreIDs: t.StoreIDs, Channels: strs(t.Channels),
	}
	if t.Amount != nil {
		f.Amount = &moneyV1{Amount: t.Amount.Amount.String(), Currency: t.Amount.Currency}
	}
	return f
}

// strs keeps nil apart from empty: they hash differently (null, []).
func strs[T ~string](xs []T) []string {
	if xs == nil {
		return nil
	}
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

type createRewardV1 struct {
	ProgrammeID string  `json:"ProgrammeID"`
	Terms       termsV1 `json:"Terms"`
}

func createRewardRequest(programmeID string, t domain.Terms) (idem.Request, error) {
	return idem.NewRequest("CreateReward", 1, func(int) any { return createRewardV1{ProgrammeID: programmeID, Terms: termsForm(t)} })
}

type updateRewardV1 struct {
	RewardID string  `json:"RewardID"`
	Terms    termsV1 `json:"Terms"`
}

// updateRewardV2 adds the field mask and the etag (AIP-134, AIP-154).
type updateRewardV2 struct {
	RewardID string   `json:"RewardID"`
	Terms    termsV1  `json:"Terms"`
	Fields   []string `json:"Fields"`
	Etag     string   `json:"Etag"`
}

// updateRewardRequest: version 2; a request with no mask and no etag (a
// replacement of every term) also has its version 1 form.
func updateRewardRequest(u RewardUpdate) (idem.Request, error) {
	return idem.NewRequest("UpdateReward", 2, func(v int) any {
		switch {
		case v == 2:
			return updateRewardV2{RewardID: u.RewardID, Terms: termsForm(u.Terms), Fields: strs(u.Fields), Etag: u.Etag}
		case len(u.Fields) == 0 && u.Etag == "":
			return updateRewardV1{RewardID: u.RewardID, Terms: termsForm(u.Terms)}
		}
		return nil
	})
}

// deactivateRewardRequest: version 2 is the JSON array [reward id, etag];
// version 1, for a request without an etag, the reward id alone, a JSON
// string.
func deactivateRewardRequest(rewardID, etag string) (idem.Request, error) {
	return idem.NewRequest("DeactivateReward", 2, func(v int) any {
		switch {
		case v == 2:
			return [2]string{rewardID, etag}
		case etag == "":
			return rewardID
		}
		return nil
	})
}

type consumeVoucherV1 struct {
	Code     string `json:"Code"`
	StoreID  string `json:"StoreID"`
	Channel  string `json:"Channel"`
	OrderRef string `json:"OrderRef"`
}

func consumeVoucherRequest(c Consumption) (idem.Request, error) {
	return idem.NewRequest("ConsumeVoucher", 1, func(int) any {
		return consumeVoucherV1{Code: c.Code, StoreID: c.StoreID, Channel: string(c.Channel), OrderRef: c.OrderRef}
	})
}
