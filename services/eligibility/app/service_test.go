package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/eligibility/app"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/domain"
)

var (
	from = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
)

type ledger struct{}

func (ledger) Stats(context.Context, string, time.Time) (*domain.ProgrammeData, error) {
	return &domain.ProgrammeData{From: from, To: to}, nil
}

func (ledger) LowestTier(context.Context, string) (string, error) { return "bronze", nil }

type catalogue struct {
	rewards []domain.RewardOffer
	err     error
}

func (c catalogue) Rewards(context.Context, string) ([]domain.RewardOffer, error) {
	return c.rewards, c.err
}

type offers struct {
	offers []domain.PartnerOffer
	err    error
}

func (o offers) Offers(context.Context, string) ([]domain.PartnerOffer, error) {
	return o.offers, o.err
}

func service(src app.Sources) *app.Service {
	src.Ledger = ledger{}
	return app.New(src, slog.New(slog.DiscardHandler))
}

// Targeted actions count the rewards and offers restricted to some
// members (not to the lowest tier: everyone is in it) that were on offer
// in the window.
func TestTargetedActionsCountWhatWasOnOfferToSome(t *testing.T) {
	before, during := from.AddDate(0, -6, 0), from.AddDate(0, 3, 0)
	s := service(app.Sources{
		Rewards: catalogue{rewards: []domain.RewardOffer{
			{MinTier: "gold", Active: true, Created: during},                                   // counted
			{Segments: 1, Active: true, Created: before},                                       // counted: still on offer
			{MinTier: "bronze", Active: true, Created: during},                                 // everyone's
			{Active: true, Created: during},                                                    // everyone's
			{MinTier: "gold", Active: false, Created: before, Updated: from.AddDate(0, 0, -1)}, // withdrawn before
			{MinTier: "gold", Active: true, Created: during, ValidFrom: to.AddDate(0, 1, 0)},   // not yet
		}},
		Partners: offers{offers: []domain.PartnerOffer{
			{Tiers: 1, Created: during},
			{Segments: 2, Created: before, ValidUntil: from.AddDate(0, 1, 0)},
			{Created: during},
			{Tiers: 1, Created: before, ValidUntil: from},
		}},
	})
	d, err := s.Data(context.Background(), "p1", to)
	if err != nil {
		t.Fatal(err)
	}
	if d.Targeted == nil || d.Targeted.Rewards != 2 || d.Targeted.PartnerOffers != 2 || len(d.Targeted.Unread) != 0 {
		t.Fatalf("targeted: %+v", d.Targeted)
	}
}

// A source that does not answer is named, not a failure; a source that
// fails otherwise fails the test; with no source read there is no count.
func TestUnreachableSourcesAreNamed(t *testing.T) {
	down := fmt.Errorf("rewards: %w", app.ErrUnreachable)
	s := service(app.Sources{Rewards: catalogue{err: down}, Partners: offers{offers: []domain.PartnerOffer{{Tiers: 1, Created: from}}}})
	d, err := s.Data(context.Background(), "p1", to)
	if err != nil || d.Targeted == nil || d.Targeted.PartnerOffers != 1 || !slices.Equal(d.Targeted.Unread, []string{"rewards"}) {
		t.Fatalf("one source down: %+v %v", d, err)
	}
	s = service(app.Sources{Rewards: catalogue{err: down}, Partners: offers{err: down}})
	if d, err := s.Data(context.Background(), "p1", to); err != nil || d.Targeted != nil {
		t.Fatalf("every source down: %+v %v", d, err)
	}
	broken := errors.New("catalogue corrupt")
	s = service(app.Sources{Rewards: catalogue{err: broken}})
	if _, err := s.Data(context.Background(), "p1", to); !errors.Is(err, broken) {
		t.Fatalf("a failing source: %v", err)
	}
}
