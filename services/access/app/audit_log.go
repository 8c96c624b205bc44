package app

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// The audit log is written off the request path: a call does not wait for
// its record. Calls are counted per second, principal, method, outcome and
// client address, and a second's counts are written once it has ended, in
// one multi-row INSERT: a POS fleet's thousands of earns a second cost one
// row, not one each (a row per call measured 13 % of SQLite's earn
// throughput). A graceful stop writes everything; a process killed outright
// loses at most its last second and a half of counts (the ledger's entries
// still name who made each mutation). Failed authentications are counted per
// client address, reason and minute, and added to their row every 10
// seconds.
const (
	auditBatch      = 500
	maxAuditBacklog = 100_000
	failuresEvery   = 10 * time.Second
)

// auditKey is what one audit row counts.
type auditKey struct {
	second                                                int64
	method, principal, onBehalfOf, decision, code, source string
}

type failKey struct {
	minute int64
	source string
	reason string
}

type auditLog struct {
	store Store
	newID func() string
	every time.Duration
	log   *slog.Logger
	// flushing is held while records are written, so that a flush returns
	// once what was queued before it is written, by it or by another.
	flushing sync.Mutex

	mu        sync.Mutex
	counts    map[auditKey]int64
	recs      []audit.Record // counted seconds that could not be written yet
	fails     map[failKey]int64
	dropped   int64
	lastFails time.Time
}

func newAuditLog(store Store, newID func() string, every time.Duration, log *slog.Logger) *auditLog {
	return &auditLog{store: store, newID: newID, every: every, log: log, counts: map[auditKey]int64{}, fails: map[failKey]int64{}}
}

// Audit counts a call; its second's row is written once the second has
// ended.
func (s *Service) Audit(r audit.Record) {
	if r.At.IsZero() {
		r.At = s.now()
	}
	k := auditKey{second: r.At.Unix(), method: r.Method, principal: r.Principal, onBehalfOf: r.OnBehalfOf,
		decision: string(r.Decision), code: r.Code, source: r.Source}
	n := max(r.Count, 1)
	a := s.audit
	a.mu.Lock()
	if _, ok := a.counts[k]; !ok && len(a.counts) >= maxAuditBacklog {
		a.dropped += n
	} else {
		a.counts[k] += n
	}
	a.mu.Unlock()
}

// FailedAuthentication counts a call from source (a client address) that
// did not authenticate, for a reason (domain.Fail*).
func (s *Service) FailedAuthentication(source, reason string) {
	minute := s.now().UTC().Truncate(time.Minute).UnixMicro()
	a := s.audit
	a.mu.Lock()
	a.fails[failKey{minute, sourceIP(source), reason}]++
	a.mu.Unlock()
}

// sourceIP is a client address without its port.
func sourceIP(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return addr
}

// RunAuditLog writes the audit log until ctx ends, then writes what is
// left.
func (s *Service) RunAuditLog(ctx context.Context) {
	a := s.audit
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := s.FlushAudit(fctx); err != nil {
				a.log.ErrorContext(ctx, "audit log: final write failed", slog.Any("error", err))
			}
			return
		case <-t.C:
		}
		// An outage of the database is logged by the readiness watch.
		if err := a.flush(ctx, s.now(), false); err != nil && ctx.Err() == nil && fault.ReasonOf(err) != fault.DatabaseUnavailable {
			a.log.ErrorContext(ctx, "audit log: write failed, will retry", slog.Any("error", err))
		}
	}
}

// FlushAudit writes every queued record and failure count now.
func (s *Service) FlushAudit(ctx context.Context) error {
	return s.audit.flush(ctx, s.now(), true)
}

func (a *auditLog) flush(ctx context.Context, now time.Time, all bool) error {
	a.flushing.Lock()
	defer a.flushing.Unlock()
	a.mu.Lock()
	recs, dropped := a.recs, a.dropped
	a.recs, a.dropped = nil, 0
	current := now.Unix()
	for k, n := range a.counts {
		if k.second < current || all {
			recs = append(recs, audit.Record{At: time.Unix(k.second, 0).UTC(), Method: k.method, Principal: k.principal,
				OnBehalfOf: k.onBehalfOf, Decision: audit.Decision(k.decision), Code: k.code, Source: k.source, Count: n})
			delete(a.counts, k)
		}
	}
	var fails map[failKey]int64
	if all || now.Sub(a.lastFails) >= failuresEvery {
		fails, a.fails, a.lastFails = a.fails, map[failKey]int64{}, now
	}
	a.mu.Unlock()
	if dropped > 0 {
		a.log.ErrorContext(ctx, "audit log: backlog full, calls not audited", slog.Int64("calls", dropped))
	}
	// Ids (UUIDv7) in the order of the seconds, so that listing by id lists
	// by time.
	slices.SortFunc(recs, func(x, y audit.Record) int { return x.At.Compare(y.At) })
	for i := range recs {
		if recs[i].ID == "" {
			recs[i].ID = a.newID()
		}
	}
	for len(recs) > 0 {
		n := min(len(recs), auditBatch)
		if err := a.store.AppendAudit(ctx, recs[:n]); err != nil {
			a.requeue(recs)
			a.requeueFails(fails)
			return err
		}
		recs = recs[n:]
	}
	if len(fails) > 0 {
		counts := make([]audit.FailureCount, 0, len(fails))
		for k, n := range fails {
			counts = append(counts, audit.FailureCount{Minute: time.UnixMicro(k.minute).UTC(), Source: k.source, Reason: k.reason, Count: n})
		}
		if err := a.store.AddFailures(ctx, counts); err != nil {
			a.requeueFails(fails)
			return err
		}
	}
	return nil
}

// requeue puts records that could not be written back in front of the
// queue, within the backlog's bound.
func (a *auditLog) requeue(recs []audit.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := min(len(recs), maxAuditBacklog-min(len(a.recs), maxAuditBacklog))
	for _, r := range recs[keep:] {
		a.dropped += r.Count
	}
	a.recs = append(recs[:keep:keep], a.recs...)
}

func (a *auditLog) requeueFails(fails map[failKey]int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, n := range fails {
		a.fails[k] += n
	}
}
