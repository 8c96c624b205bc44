package status

import (
	"context"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// statusPage bounds the statuses one segment transaction rewrites.
const statusPage = 1000

// RFMResult is what an RFM run did.
type RFMResult struct {
	Run          RFMRun
	Distribution map[string]int64
}

// RecomputeSegments scores a programme's members on their purchases over
// the RFM window ending at asOf, stores each member's scores and segment,
// records a transition and a segment_changed event for every change, and
// records the run (a rebuild replays it).
func (s *Service) RecomputeSegments(ctx context.Context, programmeID string, asOf time.Time) (*RFMResult, error) {
	progs, err := s.programmes(programmeID)
	if err != nil {
		return nil, err
	}
	if programmeID == "" || len(progs) != 1 {
		return nil, fault.Invalid("programme_id", "is required")
	}
	now := s.clock()
	asOf, err = domain.AsOf(asOf, now)
	if err != nil {
		return nil, err
	}
	if _, err := s.Project(ctx); err != nil {
		return nil, err
	}
	return s.scoreSegments(ctx, RFMRun{ID: s.newID(), ProgrammeID: programmeID, AsOf: asOf, ComputedAt: now}, true)
}

// scoreSegments runs (or, for a rebuild, replays) an RFM run. Only
// purchases recorded by the run's time count, so a replay gives the same
// scores.
func (s *Service) scoreSegments(ctx context.Context, run RFMRun, record bool) (*RFMResult, error) {
	prog, ok := s.cfg.Programme(run.ProgrammeID)
	if !ok {
		return nil, fmt.Errorf("rfm run %s: programme %q is not configured", run.ID, run.ProgrammeID)
	}
	from := run.AsOf.In(prog.Location).AddDate(0, -prog.RFM.WindowMonths, 0).UTC()
	var inputs []domain.RFMInput
	if err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		var err error
		inputs, err = tx.RFMInputs(ctx, prog.ID, from, run.AsOf, run.ComputedAt)
		return err
	}); err != nil {
		return nil, err
	}
	res := &RFMResult{Distribution: map[string]int64{}}
	scores := map[string]domain.RFMScore{}
	for _, sc := range domain.ScoreRFM(run.AsOf, inputs, prog.RFM.Thresholds) {
		scores[sc.MemberID] = sc
		res.Distribution[sc.Segment]++
	}
	run.Scored = int64(len(scores))
	for after, last := "", false; !last; {
		// The closure may run again after a conflict: it changes nothing
		// outside it until the transaction has committed.
		var changed int64
		var pageLast string
		var pageLen int
		err := s.store.UpdateProjections(ctx, func(ctx context.Context, tx ProjectionTx) error {
			head, err := tx.LockStream(ctx)
			if err != nil {
				return err
			}
			page, err := tx.StatusesPage(ctx, prog.ID, after, statusPage)
			if err != nil {
				return err
			}
			w := &StatusWrites{Head: head, At: s.clock()}
			changed, pageLast, pageLen = 0, after, len(page)
			for _, st := range page {
				sc, scored := scores[st.MemberID]
				if !scored {
					if st.Segment == "" || st.Segment == domain.SegmentInactive {
						continue
					}
					sc = domain.RFMScore{MemberID: st.MemberID, Segment: domain.SegmentInactive}
				}
				if st.R == sc.R && st.F == sc.F && st.M == sc.M && st.Segment == sc.Segment {
					continue
				}
				if tr, ev := st.SegmentChange(sc, run.AsOf, run.ID); tr != nil {
					changed++
					w.Transitions = append(w.Transitions, *tr)
					w.Events = append(w.Events, *ev)
				}
				w.Statuses = append(w.Statuses, st)
			}
			if len(page) > 0 {
				pageLast = page[len(page)-1].MemberID
			}
			if len(page) < statusPage && record {
				r := run
				r.Changed += changed
				w.RFMRun = &r
			}
			return tx.SaveStatus(ctx, w)
		})
		if err != nil {
			return nil, err
		}
		run.Changed += changed
		last, after = pageLen < statusPage, pageLast
	}
	s.stream.notify()
	res.Run = run
	return res, nil
}

// Segment returns a member's latest RFM scores and segment (a zero status
// for a member never scored).
func (s *Service) Segment(ctx context.Context, who principal.Principal, memberID string) (*domain.MemberStatus, error) {
	if _, err := s.ledger.Member(ctx, who, memberID); err != nil {
		return nil, err
	}
	var seg domain.MemberStatus
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		st, err := tx.Statuses(ctx, []string{memberID})
		if err == nil && st[memberID] != nil {
			seg = *st[memberID]
		}
		return err
	})
	return &seg, err
}

// SegmentsDue returns the programmes whose RFM period has passed since
// their last run (or that never had one).
func (s *Service) SegmentsDue(ctx context.Context) ([]string, error) {
	runs, err := s.rfmRuns(ctx)
	if err != nil {
		return nil, err
	}
	last := map[string]time.Time{}
	for _, r := range runs {
		last[r.ProgrammeID] = r.ComputedAt
	}
	now := s.clock()
	var due []string
	for _, p := range s.cfg.Programmes {
		if l, ok := last[p.ID]; !ok || now.Sub(l) >= p.RFM.Every {
			due = append(due, p.ID)
		}
	}
	return due, nil
}
