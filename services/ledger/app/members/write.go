package members

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// changed is the stored reply of a change: ids only, never personal data.
// A replay reads the member again.
type changed struct {
	MemberID string    `json:"MemberID"`
	At       time.Time `json:"At"`
}

// form is a change's idempotency fingerprint: the member and a keyed hash
// of the rest (personal data).
type form struct {
	MemberID string `json:"MemberID"`
	Digest   string `json:"Digest"`
}

// change runs fn once per idempotency key, in a transaction, and answers
// with the member as it is now.
func (s *Service) change(ctx context.Context, who principal.Principal, key, method, memberID string, request any,
	fn func(ctx context.Context, tx Tx) error) (*Member, error) {
	f := form{MemberID: memberID, Digest: s.digestOf(request)}
	req, err := idem.NewRequest(method, 1, func(int) any { return f })
	if err != nil {
		return nil, err
	}
	flow := idem.Flow[Tx]{Store: s.store, Conflict: ErrConflict, Now: s.now}
	if _, err := idem.Run(ctx, flow, idem.Key{Caller: who.ID, Key: key}, req, nil, func(ctx context.Context, tx Tx) (changed, error) {
		return changed{MemberID: memberID, At: s.now()}, fn(ctx, tx)
	}); err != nil {
		return nil, err
	}
	return s.Get(ctx, who, memberID)
}
