package consent

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// exclusionV1 is SetContactExclusion's and ClearContactExclusion's
// request form at hash version 1.
type exclusionV1 struct {
	MemberID string    `json:"member_id"`
	Reason   string    `json:"reason"`
	EndsAt   time.Time `json:"ends_at"`
}

// SetExclusion excludes a member from contacts for a reason until e.EndsAt
// (zero: until cleared), once per idempotency key.
func (s *Service) SetExclusion(ctx context.Context, who principal.Principal, key string, e Exclusion) (*Exclusion, error) {
	e.EndsAt = e.EndsAt.UTC().Truncate(time.Microsecond)
	req, err := idem.NewRequest("SetContactExclusion", 1, func(int) any { return exclusionV1(e) })
	if err != nil {
		return nil, err
	}
	check := func(context.Context) error {
		if !e.EndsAt.IsZero() && !e.EndsAt.After(s.clock()) {
			return fault.Invalid("end_time", "is not in the future")
		}
		return nil
	}
	return idem.Run(ctx, s.flow, idem.Key{Caller: who.ID, Key: key}, req, check, func(ctx context.Context, tx Tx) (*Exclusion, error) {
		if _, err := programmeOf(ctx, tx, who, e.MemberID); err != nil {
			return nil, err
		}
		return &e, tx.SetExclusion(ctx, e, s.clock(), who.Actor())
	})
}

// Cleared is the outcome of ClearExclusion.
type Cleared struct {
	// Cleared is false when the member was not excluded for the reason.
	Cleared bool
}

// ClearExclusion ends a member's exclusion for a reason, once per
// idempotency key.
func (s *Service) ClearExclusion(ctx context.Context, who principal.Principal, key, memberID, reason string) (*Cleared, error) {
	req, err := idem.NewRequest("ClearContactExclusion", 1, func(int) any { return exclusionV1{MemberID: memberID, Reason: reason} })
	if err != nil {
		return nil, err
	}
	return idem.Run(ctx, s.flow, idem.Key{Caller: who.ID, Key: key}, req, nil, func(ctx context.Context, tx Tx) (*Cleared, error) {
		if _, err := programmeOf(ctx, tx, who, memberID); err != nil {
			return nil, err
		}
		ok, err := tx.ClearExclusion(ctx, memberID, reason)
		return &Cleared{Cleared: ok}, err
	})
}
