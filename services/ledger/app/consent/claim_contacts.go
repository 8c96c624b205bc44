package consent

import (
	"context"
	"slices"
	"strings"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Decision is the answer to a claim for one member.
type Decision struct {
	domain.ContactDecision
	// ContactID is the recorded contact; empty for refusals and dry runs.
	ContactID string
}

// ClaimContact decides a claim for one member and, if it is allowed and
// not a dry run, records the contact in the same transaction. A member
// that does not exist is NOT_FOUND; a refusal is a Decision, not an error.
func (s *Service) ClaimContact(ctx context.Context, who principal.Principal, memberID string, c domain.ContactClaim, dryRun bool) (*Decision, error) {
	if err := validClaim(c); err != nil {
		return nil, err
	}
	var out []Decision
	err := s.claimTx(ctx, dryRun, func(ctx context.Context, tx Tx) error {
		p, err := programmeOf(ctx, tx, who, memberID)
		if err != nil {
			return err
		}
		prog, err := s.cfg.Find(p)
		if err != nil {
			return err
		}
		out, err = s.decide(ctx, tx, who, prog, []string{memberID}, c, dryRun)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// ClaimContacts decides a claim for members of a programme, in
// transactions of at most the service's ClaimChunk members each: one
// decision per member, in the order given. Members not found in the
// programme are refused (RuleMemberNotFound). A chunk that fails leaves
// the chunks before it recorded: a retry of the request decides them again
// as RuleAlreadyClaimed.
func (s *Service) ClaimContacts(ctx context.Context, who principal.Principal, programmeID string, memberIDs []string, c domain.ContactClaim, dryRun bool) ([]Decision, error) {
	if err := validClaim(c); err != nil {
		return nil, err
	}
	if err := who.CheckProgramme(programmeID); err != nil {
		return nil, err
	}
	prog, err := s.cfg.Find(programmeID)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, 0, len(memberIDs))
	for chunk := range slices.Chunk(memberIDs, s.chunk) {
		var ds []Decision
		err := s.claimTx(ctx, dryRun, func(ctx context.Context, tx Tx) error {
			ps, err := tx.Programmes(ctx, chunk)
			if err != nil {
				return err
			}
			var ids []string
			for _, id := range chunk {
				if ps[id] == programmeID {
					ids = append(ids, id)
				}
			}
			got, err := s.decide(ctx, tx, who, prog, ids, c, dryRun)
			if err != nil {
				return err
			}
			ds = make([]Decision, len(chunk))
			for i, id := range chunk {
				ds[i] = Decision{ContactDecision: domain.ContactDecision{MemberID: id, Rule: domain.RuleMemberNotFound}}
				if j, ok := slices.BinarySearchFunc(got, id, func(d Decision, id string) int { return strings.Compare(d.MemberID, id) }); ok {
					ds[i] = got[j]
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// claimTx runs a claim: read-only for a dry run, which records nothing.
func (s *Service) claimTx(ctx context.Context, dryRun bool, fn func(ctx context.Context, tx Tx) error) error {
	if dryRun {
		return s.store.View(ctx, fn)
	}
	return s.store.UpdateLocked(ctx, fn)
}

// decide locks the members' contact state (unless dryRun), reads what the
// policy decides on, decides, and records the allowed contacts (unless
// dryRun). It returns the decisions sorted by member id.
func (s *Service) decide(ctx context.Context, tx Tx, who principal.Principal, p *domain.Programme, memberIDs []string, c domain.ContactClaim,
	dryRun bool) ([]Decision, error) {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	now := s.clock()
	if !dryRun {
		if err := tx.LockContacts(ctx, p.ID, ids, now); err != nil {
			return nil, err
		}
	}
	pol := p.Contact
	states, err := tx.ContactStates(ctx, ids, c, now, now.Add(-pol.Lookback()), pol.QuietAfterPurchase > 0)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, len(ids))
	var record []domain.Contact
	for i, id := range ids {
		st := states[id]
		if st == nil {
			st = &domain.ContactState{}
		}
		d := Decision{ContactDecision: domain.DecideContact(pol, c, *st, now)}
		d.MemberID = id
		if d.Record && !dryRun {
			d.ContactID = s.newID()
			record = append(record, domain.Contact{ID: d.ContactID, MemberID: id, ProgrammeID: p.ID, Channel: c.Channel, Scenario: c.Scenario,
				CampaignID: c.CampaignID, At: now})
		}
		out[i] = d
	}
	if len(record) > 0 {
		if err := tx.AddContacts(ctx, record, who.Actor()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// validClaim refuses a claim on a channel the programme does not know.
func validClaim(c domain.ContactClaim) error {
	if !slices.Contains(domain.ContactChannels(), c.Channel) {
		return fault.Invalid("channel", "is not a contact channel")
	}
	return nil
}
