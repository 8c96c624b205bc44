package members

import (
	"context"
	"slices"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// ProfileFields are the fields of a profile an update may name.
var ProfileFields = []string{"name", "emails", "phones", "birth_date", "preferred_store", "language"}

// UpdateMember sets the fields of the member's profile that mask names
// (every one when it is empty). The profile's e-mail addresses and phone
// numbers are its e-mail and phone identifiers: those added resolve to the
// member, those removed no longer do.
func (s *Service) UpdateMember(ctx context.Context, who principal.Principal, key, memberID string, p Profile, mask []string) (*Member, error) {
	if len(mask) == 0 {
		mask = ProfileFields
	}
	for _, f := range mask {
		if !slices.Contains(ProfileFields, f) {
			return nil, fault.Invalid("update_mask", "%q is not a field of the profile", f)
		}
	}
	if err := CheckBirthDate(p.BirthDate, s.now()); err != nil {
		return nil, err
	}
	return s.change(ctx, who, key, "UpdateMember", memberID, []any{p, mask}, func(ctx context.Context, tx Tx) error {
		ref, dek, err := s.writable(ctx, tx, who, memberID)
		if err != nil {
			return err
		}
		old, err := s.read(ctx, tx, memberID, ref)
		if err != nil {
			return err
		}
		next := old.Profile
		for _, f := range mask {
			switch f {
			case "name":
				next.Name = p.Name
			case "emails":
				next.Emails = p.Emails
			case "phones":
				next.Phones = p.Phones
			case "birth_date":
				next.BirthDate = p.BirthDate
			case "preferred_store":
				next.PreferredStore = p.PreferredStore
			case "language":
				next.Language = p.Language
			}
		}
		for _, kv := range []struct {
			kind      string
			old, next []string
		}{{KindEmail, old.Profile.Emails, next.Emails}, {KindPhone, old.Profile.Phones, next.Phones}} {
			if err := s.syncIdentifiers(ctx, tx, dek, memberID, ref.ProgrammeID, kv.kind, kv.old, kv.next); err != nil {
				return err
			}
		}
		if next.BirthDate != old.Profile.BirthDate {
			if err := tx.Pseudonymise(ctx, memberID, ref.ExternalRef, MonthDay(next.BirthDate)); err != nil {
				return err
			}
		}
		return s.writeProfile(ctx, tx, dek, memberID, next, old.Version+1)
	})
}

// syncIdentifiers makes the member's identifiers of kind those of next.
func (s *Service) syncIdentifiers(ctx context.Context, tx Tx, dek []byte, memberID, programmeID, kind string, old, next []string) error {
	norm := func(vs []string) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = pii.Normalize(kind, v)
		}
		return out
	}
	o, n := norm(old), norm(next)
	for i, v := range old {
		if !slices.Contains(n, o[i]) {
			if err := s.removeIdentifier(ctx, tx, memberID, programmeID, kind, v); err != nil {
				return err
			}
		}
	}
	for _, v := range next {
		if err := s.addIdentifier(ctx, tx, dek, memberID, programmeID, kind, v); err != nil {
			return err
		}
	}
	return nil
}
