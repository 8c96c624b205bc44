package status

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
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
			res.NextToken = paging.Token(scope, strconv.FormatInt(last.At.UnixMicro(), 10)+" "+last.ID)
		}
		res.Transitions = trs
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// transitionPos reads a position "<at in microseconds> <transition id>".
func transitionPos(raw string) (TransitionPos, error) {
	if raw == "" {
		return TransitionPos{}, nil
	}
	at, id, ok := strings.Cut(raw, " ")
	micros, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" {
		return TransitionPos{}, fault.Invalid("page_token", "is not a page token of this listing")
	}
	return TransitionPos{At: time.UnixMicro(micros).UTC(), ID: id}, nil
}
