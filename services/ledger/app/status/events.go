package status

import (
	"context"
	"sync"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// streamSignal wakes event-stream readers when events are appended.
type streamSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newStreamSignal() *streamSignal { return &streamSignal{ch: make(chan struct{})} }

// wait returns a channel closed at the next append.
func (s *streamSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *streamSignal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// Events reads the event stream after a position: of the programmes who is
// bound to, narrowed by f.
func (s *Service) Events(ctx context.Context, who principal.Principal, after int64, f EventFilter, limit int) ([]StreamEvent, error) {
	switch {
	case f.ProgrammeID != "":
		if err := who.CheckProgramme(f.ProgrammeID); err != nil {
			return nil, err
		}
	case !who.Everywhere():
		f.Programmes = who.Programmes
	}
	var out []StreamEvent
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		var err error
		out, err = tx.Events(ctx, after, f, limit)
		return err
	})
	return out, err
}

// EventsAppended returns a channel closed when events are next appended.
func (s *Service) EventsAppended() <-chan struct{} { return s.stream.wait() }

// Drain tells the event streams that the server is shutting down, so that
// they end and a graceful stop need not wait for their clients.
func (s *Service) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// Draining is closed once Drain is called.
func (s *Service) Draining() <-chan struct{} { return s.draining }
