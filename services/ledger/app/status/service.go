// Package status is what the ledger derives from its entries: the
// projector (tier status, purchases, RFM inputs, transitions and the
// member event stream), tier evaluation, RFM segments, the time-driven
// moments and the event stream's readers. It reads the write path through
// its Ledger port.
package status

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Ledger is what status needs of the write path (posting.Service).
type Ledger interface {
	// Member returns a member who may see.
	Member(ctx context.Context, who principal.Principal, memberID string) (*domain.Member, error)
	// SetTierFloor records a manual tier floor as a ledger entry.
	SetTierFloor(ctx context.Context, who principal.Principal, key, memberID, tier, reason string) (*posting.EntryResult, error)
	// Committed receives after write transactions commit.
	Committed() <-chan struct{}
}

// Options tune a Service.
type Options struct {
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the ledger's status projections.
type Service struct {
	store  Store
	ledger Ledger
	cfg    *domain.Config
	now    func() time.Time
	newID  func() string
	log    *slog.Logger
	stream *streamSignal
	// draining is closed when the server starts to shut down.
	draining  chan struct{}
	drainOnce sync.Once
}

// New builds a Service.
func New(store Store, ledger Ledger, cfg *domain.Config, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{
		store: store, ledger: ledger, cfg: cfg, now: o.Now, log: o.Logger,
		newID:    func() string { return uuid.Must(uuid.NewV7()).String() },
		stream:   newStreamSignal(),
		draining: make(chan struct{}),
	}
}

// clock is the service's time, to the microsecond the stores keep.
func (s *Service) clock() time.Time { return domain.Micro(s.now()) }

// programmes returns the programme id names, or every programme when id
// is empty.
func (s *Service) programmes(id string) ([]*domain.Programme, error) {
	if id == "" {
		return s.cfg.Programmes, nil
	}
	p, err := s.cfg.Find(id)
	if err != nil {
		return nil, err
	}
	return []*domain.Programme{p}, nil
}
