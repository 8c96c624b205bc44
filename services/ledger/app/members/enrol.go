package members

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Enrol enrols a member through the ledger, which keeps only pseudonyms
// (the card's lookup hash, the month and day of the birth date), and puts
// the card and the birth date in the vault. The vault's writes follow the
// enrolment's commit and are made again by a retry with the same key (they
// are idempotent): a retry completes an enrolment whose vault writes
// failed. The reply carries the request's card and birth date.
func (s *Service) Enrol(ctx context.Context, who principal.Principal, key string, r posting.Enrolment) (*domain.Member, error) {
	if err := CheckBirthDate(r.BirthDate, s.now()); err != nil {
		return nil, err
	}
	card, born := r.ExternalRef, r.BirthDate
	r.ExternalRef, r.BirthDate, r.Pseudonymous = s.RefPseudonym(card), MonthDay(born), true
	if err := s.checkCardFree(ctx, r.ProgrammeID, card, r.ExternalRef); err != nil {
		return nil, err
	}
	r.Digest = s.digestOf([]string{card, born})
	m, err := s.posting.Enrol(ctx, who, key, r)
	if err != nil {
		return nil, err
	}
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		return s.vaultEnrolment(ctx, tx, m.ID, m.ProgrammeID, card, born)
	})
	if err != nil {
		return nil, err
	}
	out := *m
	out.ExternalRef, out.BirthDate = card, born
	return &out, nil
}

// checkCardFree refuses a card that another member was given in place of a
// lost one (ReplaceCard): the ledger's uniqueness knows only enrolment
// cards. An enrolment card is the write path's to refuse (or to replay).
func (s *Service) checkCardFree(ctx context.Context, programmeID, card, pseudonym string) error {
	return s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		id, err := tx.ByLookup(ctx, programmeID, s.keys.Lookup(KindCard, card))
		if err != nil || id == nil {
			return err
		}
		ref, ok, err := tx.Member(ctx, id.MemberID)
		if err != nil || !ok || ref.ExternalRef == pseudonym {
			return err
		}
		return fault.Exists(fault.MemberAlreadyEnrolled, "the external ref is already enrolled as member %s", id.MemberID).
			About(MemberResource, id.MemberID)
	})
}
