package members

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
)

// migrateBatch is how many members one transaction of MigratePlaintext
// moves to the vault.
const migrateBatch = 200

// MigratePlaintext moves the personal data that earlier versions kept in
// clear in the ledger to the vault: each member's external ref (a card
// number) becomes a card identifier, its birth date goes into its profile,
// and the ledger keeps their pseudonyms (the card's lookup hash, the month
// and day). Then it rewrites the stored replies of EnrolMember without the
// card and the birth date. It runs at every start of the ledger (in one
// replica) and does nothing once everything is moved; it returns how many
// members and replies it changed.
func (s *Service) MigratePlaintext(ctx context.Context) (members, replies int, err error) {
	after := ""
	for {
		ids, err := s.store.PlaintextMembers(ctx, after, migrateBatch)
		if err != nil || len(ids) == 0 {
			if err == nil {
				break
			}
			return members, replies, err
		}
		err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			for _, id := range ids {
				ref, ok, err := tx.Member(ctx, id)
				if err != nil {
					return err
				}
				if !ok || ref.Erased || strings.HasPrefix(ref.ExternalRef, RefPrefix) || strings.HasPrefix(ref.ExternalRef, ErasedPrefix) {
					continue
				}
				if err := s.vaultEnrolment(ctx, tx, id, ref.ProgrammeID, ref.ExternalRef, ref.BirthDate); err != nil {
					return err
				}
				if err := tx.Pseudonymise(ctx, id, s.RefPseudonym(ref.ExternalRef), MonthDay(ref.BirthDate)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return members, replies, err
		}
		members += len(ids)
		after = ids[len(ids)-1]
	}
	replies, err = s.store.RedactEnrolReplies(ctx, RedactEnrolReply)
	if members+replies > 0 {
		s.log.InfoContext(ctx, "personal data moved to the vault", slog.Int("members", members), slog.Int("replies", replies))
	}
	return members, replies, err
}

// vaultEnrolment puts an enrolment's card and birth date in the vault,
// if they are not there yet; nothing for an erased member (a retry of its
// enrolment).
func (s *Service) vaultEnrolment(ctx context.Context, tx Tx, memberID, programmeID, card, born string) error {
	if ref, ok, err := tx.Member(ctx, memberID); err != nil || !ok || ref.Erased {
		return err
	}
	dek, err := s.dataKey(ctx, tx, memberID, true)
	if err != nil {
		return err
	}
	if err := s.addIdentifier(ctx, tx, dek, memberID, programmeID, KindCard, card); err != nil {
		return err
	}
	sealed, _, err := tx.Profile(ctx, memberID)
	if err != nil || sealed != nil {
		return err
	}
	return s.writeProfile(ctx, tx, dek, memberID, Profile{BirthDate: born}, 1)
}

// RedactEnrolReply is a stored EnrolMember outcome without personal data:
// a reply's ExternalRef and BirthDate blanked, the message of the
// refusal MEMBER_ALREADY_ENROLLED (which quoted the card) rewritten. It
// tells whether it changed anything.
func RedactEnrolReply(b []byte) ([]byte, bool) {
	var st map[string]json.RawMessage
	if json.Unmarshal(b, &st) != nil {
		return b, false
	}
	changed := false
	if res, ok := st["Result"]; ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(res, &m) == nil {
			for _, f := range []string{"ExternalRef", "BirthDate"} {
				if v, ok := m[f]; ok && string(v) != `""` {
					m[f], changed = json.RawMessage(`""`), true
				}
			}
			if changed {
				st["Result"], _ = json.Marshal(m)
			}
		}
	}
	var msg string
	if json.Unmarshal(st["Msg"], &msg) == nil && strings.HasPrefix(msg, "external ref ") {
		if _, member, ok := strings.Cut(msg, " is already enrolled as member "); ok {
			st["Msg"], _ = json.Marshal("the external ref is already enrolled as member " + member)
			changed = true
		}
	}
	if !changed {
		return b, false
	}
	out, err := json.Marshal(st)
	if err != nil {
		return b, false
	}
	return out, true
}
