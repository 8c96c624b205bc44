// Package app holds the eligibility self-test's use cases. It reads the
// programme's data through its ports: the ledger's figures, the reward
// catalogue and partner offers (services/eligibility/adapters implement
// them over the other services' APIs).
package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/eligibility/domain"
)

// Ledger reads a programme's figures.
type Ledger interface {
	// Stats are a programme's figures over the 12 months to asOf (now when
	// zero), without the targeted actions.
	Stats(ctx context.Context, programmeID string, asOf time.Time) (*domain.ProgrammeData, error)
	// LowestTier is a programme's first tier ("" without tiers).
	LowestTier(ctx context.Context, programmeID string) (string, error)
}

// Catalogue lists a programme's rewards, inactive ones too.
type Catalogue interface {
	Rewards(ctx context.Context, programmeID string) ([]domain.RewardOffer, error)
}

// PartnerOffers lists the offers of a programme's partners.
type PartnerOffers interface {
	Offers(ctx context.Context, programmeID string) ([]domain.PartnerOffer, error)
}

// ErrUnreachable is a source that does not answer (not running, down,
// too slow): the test names it instead of failing.
var ErrUnreachable = errors.New("source unreachable")

// Sources are where the programme's data comes from. Rewards and Partners
// may be nil: their targeted actions are then not counted.
type Sources struct {
	Ledger   Ledger
	Rewards  Catalogue
	Partners PartnerOffers
}

// Service is the self-test.
type Service struct {
	src Sources
	log *slog.Logger
}

// New builds a Service.
func New(src Sources, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{src: src, log: log}
}

// SelfTest scores the test: the caller's replies first, then programmeID's
// data (none when empty) over the 12 months to asOf (now when zero).
func (s *Service) SelfTest(ctx context.Context, programmeID string, asOf time.Time, replies map[domain.Question]domain.Reply) (*domain.Result, error) {
	var evidence map[domain.Question]*domain.Evidence
	if programmeID != "" {
		d, err := s.Data(ctx, programmeID, asOf)
		if err != nil {
			return nil, err
		}
		evidence = d.Evidence()
	}
	return domain.Score(replies, evidence)
}

// Data reads what a programme's data holds for the test.
func (s *Service) Data(ctx context.Context, programmeID string, asOf time.Time) (*domain.ProgrammeData, error) {
	d, err := s.src.Ledger.Stats(ctx, programmeID, asOf)
	if err != nil {
		return nil, err
	}
	d.Targeted, err = s.targeted(ctx, programmeID, d.From, d.To)
	return d, err
}

// targeted counts the rewards and partner offers restricted to tiers or
// segments that were on offer at some point in [from, to]. A source that
// does not run here, or does not answer, is left out and named.
func (s *Service) targeted(ctx context.Context, programmeID string, from, to time.Time) (*domain.TargetedCount, error) {
	var t domain.TargetedCount
	read := 0
	if s.src.Rewards != nil {
		lowest, err := s.src.Ledger.LowestTier(ctx, programmeID)
		if err != nil {
			return nil, err
		}
		rs, err := s.src.Rewards.Rewards(ctx, programmeID)
		switch {
		case errors.Is(err, ErrUnreachable):
			s.log.WarnContext(ctx, "rewards unreadable for the eligibility test", slog.Any("error", err))
			t.Unread = append(t.Unread, "rewards")
		case err != nil:
			return nil, err
		default:
			read++
			for _, r := range rs {
				restricted := r.Segments > 0 || (r.MinTier != "" && r.MinTier != lowest)
				until := r.ValidUntil
				if !r.Active && (until.IsZero() || r.Updated.Before(until)) {
					until = r.Updated // deactivated then
				}
				if restricted && onOffer(r.Created, r.ValidFrom, until, from, to) {
					t.Rewards++
				}
			}
		}
	}
	if s.src.Partners != nil {
		os, err := s.src.Partners.Offers(ctx, programmeID)
		switch {
		case errors.Is(err, ErrUnreachable):
			s.log.WarnContext(ctx, "partner offers unreadable for the eligibility test", slog.Any("error", err))
			t.Unread = append(t.Unread, "partner offers")
		case err != nil:
			return nil, err
		default:
			read++
			for _, o := range os {
				if (o.Tiers > 0 || o.Segments > 0) && onOffer(o.Created, o.ValidFrom, o.ValidUntil, from, to) {
					t.PartnerOffers++
				}
			}
		}
	}
	if read == 0 {
		return nil, nil
	}
	return &t, nil
}

// onOffer says whether something created at created and valid in
// [validFrom, validUntil) (zero: unbounded) was on offer during [from, to].
func onOffer(created, validFrom, validUntil, from, to time.Time) bool {
	start := created
	if validFrom.After(start) {
		start = validFrom
	}
	if start.After(to) {
		return false
	}
	return validUntil.IsZero() || validUntil.After(from)
}
