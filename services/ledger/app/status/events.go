package status

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
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

// Cursor is a position in an epoch of the event stream. A rebuild starts a
// new epoch and re-appends the derived events at new positions, so a
// position means something only in its epoch.
type Cursor struct {
	Epoch    int64
	Position int64
}

// StartKind is where an event stream starts.
type StartKind int

// Where a stream starts.
const (
	// StartNow: at the head; only events appended from now on.
	StartNow StartKind = iota
	// StartTime: at the first event recorded at or after EventStart.Time.
	StartTime
	// StartCursor: after EventStart.Cursor.
	StartCursor
)

// EventStart is where a stream starts.
type EventStart struct {
	Kind   StartKind
	Time   time.Time
	Cursor Cursor
}

// OpenEvents checks a stream's filter for who and resolves where it
// starts. It returns the cursor to read after and the filter narrowed to
// who's programmes. An unknown programme or member is NotFound; a cursor of
// an earlier epoch FailedPrecondition (CURSOR_STALE).
func (s *Service) OpenEvents(ctx context.Context, who principal.Principal, start EventStart, f EventFilter) (Cursor, EventFilter, error) {
	switch {
	case f.ProgrammeID != "":
		// Permission first: a principal learns nothing of programmes it is
		// not bound to.
		if err := who.CheckProgramme(f.ProgrammeID); err != nil {
			return Cursor{}, f, err
		}
		if _, err := s.cfg.Find(f.ProgrammeID); err != nil {
			return Cursor{}, f, err
		}
	case !who.Everywhere():
		f.Programmes = who.Programmes
	}
	if f.MemberID != "" {
		if _, err := s.ledger.Member(ctx, who, f.MemberID); err != nil {
			return Cursor{}, f, err
		}
	}
	if start.Kind == StartTime && start.Time.After(s.clock()) {
		return Cursor{}, f, fault.Invalid("start_time", "is in the future: start from now instead")
	}
	var c Cursor
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		head, err := tx.StreamHead(ctx)
		if err != nil {
			return err
		}
		c = Cursor{Epoch: head.Epoch, Position: head.Position}
		switch start.Kind {
		case StartCursor:
			if err := checkCursor(start.Cursor, head); err != nil {
				return err
			}
			c = start.Cursor
		case StartTime:
			first, err := tx.FirstEventRecorded(ctx, start.Time)
			if err != nil {
				return err
			}
			if first > 0 {
				c.Position = first - 1
			}
		}
		return nil
	})
	return c, f, err
}

// checkCursor refuses a cursor that is not a position of the stream's
// current epoch.
func checkCursor(c Cursor, head StreamHead) error {
	switch {
	case c.Epoch < head.Epoch:
		f := fault.Precondition(fault.CursorStale,
			"the event stream was rebuilt (epoch %d, started %s) since this cursor (epoch %d) was given, and its events re-appended at new positions: "+
				"start again with start_time set to the recorded_time of the last event you processed, and drop the event ids you have seen",
			head.Epoch, head.EpochStartedAt.UTC().Format(time.RFC3339), c.Epoch).
			With("cursor_epoch", strconv.FormatInt(c.Epoch, 10)).
			With("stream_epoch", strconv.FormatInt(head.Epoch, 10))
		if !head.EpochStartedAt.IsZero() {
			f = f.With("epoch_start_time", head.EpochStartedAt.UTC().Format(time.RFC3339Nano))
		}
		return f
	case c.Epoch > head.Epoch, c.Position > head.Position:
		return fault.Invalid("cursor", "is not a cursor of this stream: it is ahead of the stream's head")
	}
	return nil
}

// EventPage is events read from the stream, and the cursor to read on
// after them: past the last event, or the head when the page is not full
// (f kept nothing more up to it).
type EventPage struct {
	Events []StreamEvent
	Next   Cursor
}

// Events reads up to limit events after c that f (from OpenEvents) keeps.
// A cursor of an earlier epoch is FailedPrecondition (CURSOR_STALE).
func (s *Service) Events(ctx context.Context, c Cursor, f EventFilter, limit int) (*EventPage, error) {
	var page EventPage
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		head, err := tx.StreamHead(ctx)
		if err != nil {
			return err
		}
		if err := checkCursor(c, head); err != nil {
			return err
		}
		// Up to the head read first: positions are given in commit order,
		// so every event up to it is visible, whatever the isolation.
		page.Events, err = tx.Events(ctx, c.Position, head.Position, f, limit)
		if err != nil {
			return err
		}
		page.Next = Cursor{Epoch: head.Epoch, Position: head.Position}
		if n := len(page.Events); n == limit {
			page.Next.Position = page.Events[n-1].Position
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &page, nil
}

// EventsAppended returns a channel closed when events are next appended.
func (s *Service) EventsAppended() <-chan struct{} { return s.stream.wait() }

// Drain tells the event streams that the server is shutting down, so that
// they end and a graceful stop need not wait for their clients.
func (s *Service) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// Draining is closed once Drain is called.
func (s *Service) Draining() <-chan struct{} { return s.draining }
