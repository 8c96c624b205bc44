package members

import (
	"context"
	"log/slog"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// Erased is the outcome of an erasure.
type Erased struct {
	MemberID string    `json:"MemberID"`
	At       time.Time `json:"At"`
}

// EraseMember crypto-shreds the member: its wrapped data key, profile,
// identifiers and lookup hashes are deleted, its external ref and birth
// date blanked in the ledger, and it is marked erased. Its entries and
// balances stay, pseudonymous, so that balances, KPIs and settlement stay
// right. Erasing an erased member again is a no-op that answers with the
// first erasure.
func (s *Service) EraseMember(ctx context.Context, who principal.Principal, key, memberID string) (Erased, error) {
	req, err := idem.NewRequest("EraseMember", 1, func(int) any { return form{MemberID: memberID} })
	if err != nil {
		return Erased{}, err
	}
	flow := idem.Flow[Tx]{Store: s.store, Conflict: ErrConflict, Now: s.now}
	out, err := idem.Run(ctx, flow, idem.Key{Caller: who.ID, Key: key}, req, nil, func(ctx context.Context, tx Tx) (Erased, error) {
		ref, err := s.member(ctx, tx, who, memberID)
		if err != nil {
			return Erased{}, err
		}
		at := s.now()
		if ref.Erased {
			at = ref.ErasedAt
		} else if err := tx.Erase(ctx, memberID, at); err != nil {
			return Erased{}, err
		}
		return Erased{MemberID: memberID, At: at}, nil
	})
	if err == nil {
		s.log.InfoContext(ctx, "member erased", slog.String("caller", who.ID))
	}
	return out, err
}
