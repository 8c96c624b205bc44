package consent

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// ConsentChange is a recorded change (the domain's, as replies store it).
type ConsentChange struct{ domain.ConsentChange }

func newChange(in ConsentInput) *ConsentChange {
	return &ConsentChange{domain.ConsentChange{
		MemberID: in.MemberID, ConsentKey: domain.ConsentKey{Purpose: in.Purpose, Channel: in.Channel}, Granted: in.Granted,
		Source: in.Source, TextVersion: in.TextVersion, OccurredAt: in.OccurredAt,
	}}
}

// KeyedConsent is the current consent of one key.
type KeyedConsent struct {
	domain.ConsentKey
	Current
}

// Consents returns a member's current consent for every key, in the order
// of domain.ConsentKeys; keys never recorded are not granted.
func (s *Service) Consents(ctx context.Context, who principal.Principal, memberID string) ([]KeyedConsent, error) {
	var cur map[domain.ConsentKey]Current
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := programmeOf(ctx, tx, who, memberID); err != nil {
			return err
		}
		var err error
		cur, err = tx.Consents(ctx, memberID)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []KeyedConsent
	for _, k := range domain.ConsentKeys() {
		out = append(out, KeyedConsent{ConsentKey: k, Current: cur[k]})
	}
	return out, nil
}

// History pages a member's consent changes, oldest first (AIP-158).
func (s *Service) History(ctx context.Context, who principal.Principal, memberID string, size int, token string) ([]domain.ConsentChange, string, error) {
	scope := paging.Scope("ListConsentHistory", memberID)
	pos, err := paging.Position(scope, token)
	if err != nil {
		return nil, "", err
	}
	afterAt, afterID, err := paging.ParseTimeKey(pos)
	if err != nil {
		return nil, "", err
	}
	size = paging.Size(size, 100, 1000)
	var out []domain.ConsentChange
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := programmeOf(ctx, tx, who, memberID); err != nil {
			return err
		}
		var err error
		out, err = tx.ConsentHistory(ctx, memberID, afterAt, afterID, size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		next = paging.Token(scope, paging.TimeKey(last.RecordedAt, last.ID))
	}
	return out, next, nil
}
