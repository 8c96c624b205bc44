package status

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Page sizes of the transition histories.
const (
	TransitionsPage    = 100
	TransitionsPageMax = 1000
)

// TransitionsResult is a page of a member's transitions, oldest first, and
// the token of the next page ("" after the last).
type TransitionsResult struct {
	Transitions []domain.Transition
	NextToken   string
}

// Transitions pages a member's tier or segment transitions (kind is
// domain.TransitionTier or domain.TransitionSegment) in the order they took
// effect. Page tokens are bound to the kind and the member.
func (s *Service) Transitions(ctx context.Context, who principal.Principal, memberID, kind string, pageSize int, token string) (*TransitionsResult, error) {
	scope := paging.Scope("member_transitions", kind, memberID)
	raw, err := paging.Position(scope, token)
	if err != nil {
		return nil, err
	}
	after, err := transitionPos(raw)
	if err != nil {
		return nil, err
	}
	if _, err := s.ledger.Member(ctx, who, memberID); err != nil {
		return nil, err
	}
	size := paging.Size(pageSize, TransitionsPage, TransitionsPageMax)
	var res TransitionsResult
	err = s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		trs, err := tx.Transitions(ctx, memberID, kind, after, size+1)
		if err != nil {
			return err
		}
		if len(trs) > size {
			trs = trs[:size]
			last := trs[size-1]
			res.NextToken = paging.Token(scope, paging.TimeKey(last.At, last.ID))
		}
		res.Transitions = trs
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// transitionPos reads a position (a paging.TimeKey).
func transitionPos(raw string) (TransitionPos, error) {
	at, id, err := paging.ParseTimeKey(raw)
	return TransitionPos{At: at, ID: id}, err
}
