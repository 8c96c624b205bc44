package app

import (
	"context"
	"encoding/json"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// MemberRedemption is a redemption and the voucher it issued (nil until
// one is issued).
type MemberRedemption struct {
	Redemption *domain.Redemption
	Voucher    *domain.Voucher
}

// RedemptionsPage is a page of a member's redemptions and the token of the
// next ("" after the last).
type RedemptionsPage struct {
	Redemptions []MemberRedemption
	Next        string
}

// MemberRedemptions lists a page of a member's redemptions, newest first,
// each with its voucher as it is now.
func (s *Service) MemberRedemptions(ctx context.Context, who principal.Principal, memberID string, p Page) (*RedemptionsPage, error) {
	programme, err := s.ledger.MemberProgramme(ctx, memberID)
	if err != nil {
		return nil, err
	}
	if err := who.CheckProgramme(programme); err != nil {
		return nil, err
	}
	scope := paging.Scope("member-redemptions", memberID)
	pos, err := paging.Position(scope, p.Token)
	if err != nil {
		return nil, err
	}
	var after *RedemptionCursor
	if pos != "" {
		after = &RedemptionCursor{}
		if json.Unmarshal([]byte(pos), after) != nil {
			return nil, fault.Invalid("page_token", "is not a page token of this listing")
		}
	}
	size := paging.Size(p.Size, defaultPageSize, maxPageSize)
	out := &RedemptionsPage{}
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		rs, err := tx.MemberRedemptions(ctx, memberID, after, size+1)
		if err != nil {
			return err
		}
		out.Redemptions, out.Next = nil, ""
		if len(rs) > size {
			rs = rs[:size]
			last := rs[size-1]
			b, err := json.Marshal(RedemptionCursor{CreatedAt: last.CreatedAt.UnixMicro(), ID: last.ID})
			if err != nil {
				return err
			}
			out.Next = paging.Token(scope, string(b))
		}
		for _, r := range rs {
			m := MemberRedemption{Redemption: r}
			if r.VoucherCode != "" {
				v, err := tx.Voucher(ctx, r.VoucherCode)
				if err != nil {
					return err
				}
				if v != nil && v.Status != domain.VoucherPending {
					m.Voucher = v
				}
			}
			out.Redemptions = append(out.Redemptions, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
