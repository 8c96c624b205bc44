package members

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// RefPrefix starts the pseudonym the ledger keeps of a member's enrolment
// card: "h1:" and the base64 of its lookup hash.
const RefPrefix = "h1:"

// ErasedPrefix starts an erased member's external ref: "erased:" and its
// id.
const ErasedPrefix = "erased:"

// MemberResource is the type of a member in a refusal's ResourceInfo.
const MemberResource = "fidelis.ledger.v1.Member"

const profileField = "profile"

func identifierField(kind string) string { return "identifier/" + kind }

// RefPseudonym is the ledger's pseudonym of a card number.
func (s *Service) RefPseudonym(card string) string {
	return RefPrefix + base64.RawURLEncoding.EncodeToString(s.keys.Lookup(KindCard, card))
}

// MonthDay is what the ledger keeps of a birth date: "--MM-DD", for the
// birthday moments.
func MonthDay(birthDate string) string {
	if len(birthDate) != len(time.DateOnly) {
		return ""
	}
	return "--" + birthDate[5:]
}

// digestOf is the keyed hash that stands for a request's personal data in
// its idempotency fingerprint: a plain hash of an e-mail address would be
// found again by hashing a list of addresses.
func (s *Service) digestOf(v any) string {
	b, _ := json.Marshal(v) // of strings and slices of strings only
	m := hmac.New(sha256.New, s.digest)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// dataKey is the member's data key, made (and stored) if it has none and
// create.
func (s *Service) dataKey(ctx context.Context, tx Tx, memberID string, create bool) ([]byte, error) {
	w, err := tx.Key(ctx, memberID)
	if err != nil {
		return nil, err
	}
	if w != nil {
		return s.keys.Unwrap(memberID, *w)
	}
	if !create {
		return nil, nil
	}
	dek, nw, err := s.keys.NewDataKey(memberID)
	if err != nil {
		return nil, err
	}
	return dek, tx.PutKey(ctx, memberID, nw, s.now())
}

// member loads a member the principal may see, with its ledger row.
func (s *Service) member(ctx context.Context, tx Tx, who principal.Principal, memberID string) (Ref, error) {
	ref, ok, err := tx.Member(ctx, memberID)
	if err != nil {
		return ref, err
	}
	if !ok {
		return ref, fault.NotFound(fault.MemberNotFound, "member %s not found", memberID).About(MemberResource, memberID)
	}
	if err := who.CheckProgramme(ref.ProgrammeID); err != nil {
		return ref, err
	}
	return ref, nil
}

// writable is member for a change: an erased member is refused.
func (s *Service) writable(ctx context.Context, tx Tx, who principal.Principal, memberID string) (Ref, []byte, error) {
	ref, err := s.member(ctx, tx, who, memberID)
	if err != nil {
		return ref, nil, err
	}
	if ref.Erased {
		return ref, nil, fault.Precondition(fault.MemberErased, "member %s was erased", memberID).About(MemberResource, memberID)
	}
	dek, err := s.dataKey(ctx, tx, memberID, true)
	return ref, dek, err
}

// read is the member's personal data, opened.
func (s *Service) read(ctx context.Context, tx Tx, memberID string, ref Ref) (*Member, error) {
	m := &Member{ID: memberID, ProgrammeID: ref.ProgrammeID, Erased: ref.Erased}
	dek, err := s.dataKey(ctx, tx, memberID, false)
	if err != nil || dek == nil {
		return m, err
	}
	sealed, version, err := tx.Profile(ctx, memberID)
	if err != nil {
		return nil, err
	}
	if sealed != nil {
		plain, err := pii.Open(dek, memberID, profileField, sealed)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(plain, &m.Profile); err != nil {
			return nil, fmt.Errorf("members: profile: %w", err)
		}
		m.Version = version
	}
	ids, err := tx.Identifiers(ctx, memberID)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		v, err := pii.Open(dek, memberID, identifierField(id.Kind), id.Sealed)
		if err != nil {
			return nil, err
		}
		m.Identifiers = append(m.Identifiers, Identifier{ID: id.ID, Kind: id.Kind, Value: string(v), CreatedAt: id.CreatedAt, ReplacedAt: id.ReplacedAt})
	}
	slices.SortStableFunc(m.Identifiers, func(a, b Identifier) int {
		if c := slices.Index(Kinds, a.Kind) - slices.Index(Kinds, b.Kind); c != 0 {
			return c
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	return m, nil
}

// writeProfile seals and stores the profile as version.
func (s *Service) writeProfile(ctx context.Context, tx Tx, dek []byte, memberID string, p Profile, version int64) error {
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	sealed, err := pii.Seal(dek, memberID, profileField, plain)
	if err != nil {
		return err
	}
	return tx.PutProfile(ctx, memberID, sealed, version, s.now())
}

// addIdentifier gives the member an identifier; one that already
// resolves to it is left as it is, one that resolves to another member is
// refused.
func (s *Service) addIdentifier(ctx context.Context, tx Tx, dek []byte, memberID, programmeID, kind, value string) error {
	lookup := s.keys.Lookup(kind, value)
	have, err := tx.ByLookup(ctx, programmeID, lookup)
	if err != nil {
		return err
	}
	if have != nil {
		if have.MemberID == memberID {
			return nil
		}
		return fault.Exists(fault.IdentifierTaken, "the %s identifies another member", kind)
	}
	sealed, err := pii.Seal(dek, memberID, identifierField(kind), []byte(strings.TrimSpace(value)))
	if err != nil {
		return err
	}
	return tx.PutIdentifier(ctx, StoredIdentifier{ID: s.newID(), MemberID: memberID, ProgrammeID: programmeID, Kind: kind,
		Lookup: lookup, Sealed: sealed, CreatedAt: s.now()})
}

// removeIdentifier deletes the member's identifier of kind and value
// (the profile no longer holds it): it is not history, as a replaced card
// is.
func (s *Service) removeIdentifier(ctx context.Context, tx Tx, memberID, programmeID, kind, value string) error {
	have, err := tx.ByLookup(ctx, programmeID, s.keys.Lookup(kind, value))
	if err != nil || have == nil || have.MemberID != memberID {
		return err
	}
	return tx.DeleteIdentifier(ctx, have.ID)
}
