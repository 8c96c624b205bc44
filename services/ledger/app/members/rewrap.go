package members

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
)

// CheckBirthDate refuses a birth date ("" for none) that is not a whole
// real date or that is after today.
func CheckBirthDate(d string, now time.Time) error {
	if strings.HasPrefix(d, "--") {
		return fault.Invalid("birth_date", "%q is not a whole date", d)
	}
	return posting.CheckBirthDate(d, now)
}

// rewrapBatch is how many data keys one transaction of Rewrap rewraps.
const rewrapBatch = 200

// Rewrap rewraps every member's data key that another master key wraps
// with the current one (the first of the keyring), a batch per
// transaction; it returns how many it rewrapped. After it, the master keys
// but the current one can be removed from the keyring. Members may be
// enrolled meanwhile: their keys are wrapped by the current key already.
func (s *Service) Rewrap(ctx context.Context) (int, error) {
	var n int
	after := ""
	for {
		ids, err := s.store.KeysNotWrappedBy(ctx, s.keys.Current(), after, rewrapBatch)
		if err != nil || len(ids) == 0 {
			return n, err
		}
		err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			for _, id := range ids {
				w, err := tx.Key(ctx, id)
				if err != nil {
					return err
				}
				if w == nil {
					continue // erased meanwhile
				}
				nw, changed, err := s.keys.Rewrap(id, *w)
				if err != nil {
					return fmt.Errorf("member key: %w", err)
				}
				if changed {
					if err := tx.PutKey(ctx, id, nw, s.now()); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(ids)
		after = ids[len(ids)-1]
	}
}
