package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

func (t *txn) OutboxMembers(ctx context.Context, limit int) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := t.query(ctx, `SELECT member_id FROM ledger_outbox ORDER BY recorded_at, entry_id LIMIT $1`, []any{limit * 4},
		func(r *sql.Rows) error {
			var id string
			if err := r.Scan(&id); err != nil {
				return err
			}
			if !seen[id] && len(out) < limit {
				seen[id] = true
				out = append(out, id)
			}
			return nil
		})
	return out, err
}

func (t *txn) OutboxBacklog(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest sql.NullInt64
	if err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN(recorded_at) FROM ledger_outbox`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox backlog: %w", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, sqldb.FromMicros(oldest.Int64), nil
}

func (t *txn) LockStream(ctx context.Context) (int64, error) {
	var head int64
	err := t.tx.QueryRowContext(ctx, `SELECT position FROM projection_state WHERE name = 'member_events'`+t.db.ForUpdate("projection_state")).Scan(&head)
	if err != nil {
		return 0, fmt.Errorf("lock event stream: %w", err)
	}
	return head, nil
}

const statusCols = `member_id, programme_id, projected_seq, tier, tier_since, tier_valid_until, tier_floor,
	first_purchase_at, last_purchase_at, purchases, spend_micros, r_score, f_score, m_score, segment, segment_since`

func (t *txn) statuses(ctx context.Context, where string, args []any) ([]*domain.MemberStatus, error) {
	var out []*domain.MemberStatus
	err := t.query(ctx, `SELECT `+statusCols+` FROM member_status WHERE `+where, args, func(r *sql.Rows) error {
		var s domain.MemberStatus
		var since, until, first, last, segSince int64
		if err := r.Scan(&s.MemberID, &s.ProgrammeID, &s.ProjectedSeq, &s.Tier, &since, &until, &s.TierFloor,
			&first, &last, &s.Purchases, &s.SpendMicros, &s.R, &s.F, &s.M, &s.Segment, &segSince); err != nil {
			return err
		}
		s.TierSince, s.TierValidUntil, s.FirstPurchase = sqldb.FromMicros(since), sqldb.FromMicros(until), sqldb.FromMicros(first)
		s.LastPurchase, s.SegmentSince = sqldb.FromMicros(last), sqldb.FromMicros(segSince)
		out = append(out, &s)
		return nil
	})
	return out, err
}

func (t *txn) Statuses(ctx context.Context, ids []string) (map[string]*domain.MemberStatus, error) {
	out := map[string]*domain.MemberStatus{}
	err := inChunks(ids, func(ids []string) error {
		ss, err := t.statuses(ctx, `member_id IN (`+sqldb.Placeholders(1, len(ids))+`)`, anys(ids))
		for _, s := range ss {
			out[s.MemberID] = s
		}
		return err
	})
	return out, err
}

func (t *txn) StatusesPage(ctx context.Context, programmeID, afterID string, limit int) ([]*domain.MemberStatus, error) {
	return t.statuses(ctx, `programme_id = $1 AND member_id > $2 ORDER BY member_id LIMIT $3`, []any{programmeID, afterID, limit})
}

func (t *txn) Inactive(ctx context.Context, programmeID string, at time.Time) ([]*domain.MemberStatus, error) {
	return t.statuses(ctx, `programme_id = $1 AND last_purchase_at > 0 AND last_purchase_at <= $2 ORDER BY member_id`,
		[]any{programmeID, sqldb.Micros(at)})
}

func (t *txn) Purchases(ctx context.Context, ids []string) (map[string][]domain.Purchase, error) {
	out := map[string][]domain.Purchase{}
	err := inChunks(ids, func(ids []string) error {
		q := `SELECT member_id, entry_id, occurred_at, qualifies_at, recorded_at, spend_micros, status_points, points, is_return
			FROM member_purchases WHERE member_id IN (` + sqldb.Placeholders(1, len(ids)) + `) ORDER BY member_id, recorded_at, entry_id`
		return t.query(ctx, q, anys(ids), func(r *sql.Rows) error {
			var m string
			var p domain.Purchase
			var occurred, qualifies, recorded int64
			if err := r.Scan(&m, &p.EntryID, &occurred, &qualifies, &recorded, &p.SpendMicros, &p.StatusPoints, &p.Points, &p.Return); err != nil {
				return err
			}
			p.OccurredAt, p.QualifiesAt, p.RecordedAt = sqldb.FromMicros(occurred), sqldb.FromMicros(qualifies), sqldb.FromMicros(recorded)
			out[m] = append(out[m], p)
			return nil
		})
	})
	return out, err
}

func (t *txn) EntriesAfter(ctx context.Context, after map[string]int64) ([]*domain.Entry, error) {
	if len(after) == 0 {
		return nil, nil
	}
	var vals strings.Builder
	args := make([]any, 0, 2*len(after))
	for m, seq := range after {
		if len(args) > 0 {
			vals.WriteString(", ")
		}
		fmt.Fprintf(&vals, "(CAST($%d AS TEXT), CAST($%d AS BIGINT))", len(args)+1, len(args)+2)
		args = append(args, m, seq)
	}
	// Joined from the list, so that every engine seeks each member's range
	// in (member_id, seq) rather than scanning the ledger.
	return t.entries(ctx, `(VALUES `+vals.String()+`) AS v JOIN ledger_entries
		ON ledger_entries.member_id = v.column1 AND ledger_entries.seq > v.column2 ORDER BY member_id, seq`, args)
}

func (t *txn) TierDue(ctx context.Context, at time.Time, afterID string, limit int) ([]string, error) {
	var out []string
	err := t.query(ctx, `SELECT member_id FROM member_status WHERE tier_valid_until > 0 AND tier_valid_until <= $1
		AND member_id > $2 ORDER BY member_id LIMIT $3`, []any{sqldb.Micros(at), afterID, limit}, func(r *sql.Rows) error {
		var id string
		err := r.Scan(&id)
		out = append(out, id)
		return err
	})
	return out, err
}

func (t *txn) Transitions(ctx context.Context, memberID, kind string, after status.TransitionPos, limit int) ([]domain.Transition, error) {
	var out []domain.Transition
	err := t.query(ctx, `SELECT transition_id, member_id, programme_id, kind, from_state, to_state, at, cause
		FROM member_transitions WHERE member_id = $1 AND kind = $2 AND (at > $3 OR (at = $3 AND transition_id > $4))
		ORDER BY at, transition_id LIMIT $5`, []any{memberID, kind, sqldb.Micros(after.At), after.ID, limit},
		func(r *sql.Rows) error {
			var tr domain.Transition
			var at int64
			if err := r.Scan(&tr.ID, &tr.MemberID, &tr.ProgrammeID, &tr.Kind, &tr.From, &tr.To, &at, &tr.Cause); err != nil {
				return err
			}
			tr.At = sqldb.FromMicros(at)
			out = append(out, tr)
			return nil
		})
	return out, err
}

func (t *txn) RFMInputs(ctx context.Context, programmeID string, from, to, recordedBy time.Time) ([]domain.RFMInput, error) {
	var out []domain.RFMInput
	q := `SELECT member_id,
			MAX(CASE WHEN NOT is_return THEN occurred_at ELSE 0 END),
			SUM(CASE WHEN NOT is_return THEN 1 ELSE 0 END),
			SUM(spend_micros)
		FROM member_purchases
		WHERE programme_id = $1 AND occurred_at > $2 AND occurred_at <= $3 AND recorded_at <= $4
		GROUP BY member_id ORDER BY member_id`
	err := t.query(ctx, q, []any{programmeID, sqldb.Micros(from), sqldb.Micros(to), sqldb.Micros(recordedBy)}, func(r *sql.Rows) error {
		var in domain.RFMInput
		var last, spend int64
		if err := r.Scan(&in.MemberID, &last, &in.Purchases, &spend); err != nil {
			return err
		}
		if in.Purchases > 0 {
			in.LastPurchase, in.Spend = sqldb.FromMicros(last), money.FromMicros(spend)
			out = append(out, in)
		}
		return nil
	})
	return out, err
}

func (t *txn) RFMRuns(ctx context.Context) ([]status.RFMRun, error) {
	var out []status.RFMRun
	err := t.query(ctx, `SELECT run_id, programme_id, as_of, computed_at, scored, changed FROM rfm_runs ORDER BY computed_at, run_id`,
		nil, func(r *sql.Rows) error {
			var run status.RFMRun
			var asOf, computed int64
			if err := r.Scan(&run.ID, &run.ProgrammeID, &asOf, &computed, &run.Scored, &run.Changed); err != nil {
				return err
			}
			run.AsOf, run.ComputedAt = sqldb.FromMicros(asOf), sqldb.FromMicros(computed)
			out = append(out, run)
			return nil
		})
	return out, err
}

func (t *txn) Expiring(ctx context.Context, programmeID string, from, to time.Time) ([]status.Expiring, error) {
	var out []status.Expiring
	q := `SELECT l.member_id, l.expires_at, SUM(l.remaining) FROM ledger_lots l
		JOIN ledger_members m ON m.member_id = l.member_id
		WHERE m.programme_id = $1 AND l.remaining > 0 AND NOT l.pending AND l.expires_at > $2 AND l.expires_at <= $3
		GROUP BY l.member_id, l.expires_at ORDER BY l.member_id, l.expires_at`
	err := t.query(ctx, q, []any{programmeID, sqldb.Micros(from), sqldb.Micros(to)}, func(r *sql.Rows) error {
		var e status.Expiring
		var at int64
		if err := r.Scan(&e.MemberID, &at, &e.Points); err != nil {
			return err
		}
		e.ExpiresAt = sqldb.FromMicros(at)
		out = append(out, e)
		return nil
	})
	return out, err
}

func (t *txn) Birthdays(ctx context.Context, programmeID, monthDay string) ([]*domain.Member, error) {
	var out []*domain.Member
	err := t.query(ctx, `SELECT `+memberSelect+` FROM ledger_members WHERE programme_id = $1 AND (birth_date LIKE $2 OR birth_date = $3) ORDER BY member_id`,
		[]any{programmeID, "____-" + monthDay, "--" + monthDay}, func(r *sql.Rows) error {
			m, err := scanMember(r)
			out = append(out, m)
			return err
		})
	return out, err
}

func (t *txn) KnownEvents(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := inChunks(ids, func(ids []string) error {
		return t.query(ctx, `SELECT event_id FROM member_events WHERE event_id IN (`+sqldb.Placeholders(1, len(ids))+`)`,
			anys(ids), func(r *sql.Rows) error {
				var id string
				err := r.Scan(&id)
				out[id] = true
				return err
			})
	})
	return out, err
}

func (t *txn) StreamHead(ctx context.Context) (status.StreamHead, error) {
	var h status.StreamHead
	var started int64
	err := t.tx.QueryRowContext(ctx, `SELECT epoch, position, epoch_started_at FROM projection_state WHERE name = 'member_events'`).
		Scan(&h.Epoch, &h.Position, &started)
	if err != nil {
		return h, fmt.Errorf("event stream head: %w", err)
	}
	h.EpochStartedAt = sqldb.FromMicros(started)
	return h, nil
}

func (t *txn) FirstEventRecorded(ctx context.Context, at time.Time) (int64, error) {
	var pos sql.NullInt64
	if err := t.tx.QueryRowContext(ctx, `SELECT MIN(position) FROM member_events WHERE recorded_at >= $1`, sqldb.Micros(at)).
		Scan(&pos); err != nil {
		return 0, fmt.Errorf("first event recorded at %s: %w", at, err)
	}
	return pos.Int64, nil
}

func (t *txn) Events(ctx context.Context, after, upTo int64, f status.EventFilter, limit int) ([]status.StreamEvent, error) {
	where := []string{"position > $1", "position <= $2"}
	args := []any{after, upTo}
	if f.ProgrammeID != "" {
		args = append(args, f.ProgrammeID)
		where = append(where, fmt.Sprintf("programme_id = $%d", len(args)))
	}
	if len(f.Programmes) > 0 {
		where = append(where, "programme_id IN ("+sqldb.Placeholders(len(args)+1, len(f.Programmes))+")")
		args = append(args, anys(f.Programmes)...)
	}
	if f.MemberID != "" {
		args = append(args, f.MemberID)
		where = append(where, fmt.Sprintf("member_id = $%d", len(args)))
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN ("+sqldb.Placeholders(len(args)+1, len(f.Types))+")")
		args = append(args, anys(f.Types)...)
	}
	args = append(args, limit)
	q := `SELECT position, event_id, member_id, programme_id, type, at, entry_id, points, from_state, to_state, detail, recorded_at
		FROM member_events WHERE ` + strings.Join(where, " AND ") + fmt.Sprintf(" ORDER BY position LIMIT $%d", len(args))
	var out []status.StreamEvent
	err := t.query(ctx, q, args, func(r *sql.Rows) error {
		var e status.StreamEvent
		var at, recorded int64
		if err := r.Scan(&e.Position, &e.EventID, &e.MemberID, &e.ProgrammeID, &e.Type, &at, &e.EntryID, &e.Points,
			&e.From, &e.To, &e.Detail, &recorded); err != nil {
			return err
		}
		e.At, e.RecordedAt = sqldb.FromMicros(at), sqldb.FromMicros(recorded)
		out = append(out, e)
		return nil
	})
	return out, err
}

func statusRow(s *domain.MemberStatus) []any {
	return []any{s.MemberID, s.ProgrammeID, s.ProjectedSeq, s.Tier, sqldb.Micros(s.TierSince), sqldb.Micros(s.TierValidUntil), s.TierFloor,
		sqldb.Micros(s.FirstPurchase), sqldb.Micros(s.LastPurchase), s.Purchases, s.SpendMicros, s.R, s.F, s.M, s.Segment, sqldb.Micros(s.SegmentSince)}
}

func (t *txn) SaveStatus(ctx context.Context, w *status.StatusWrites) error {
	var s script
	s.insert("member_status", statusCols, "", len(w.NewStatuses), func(i int) []any { return statusRow(w.NewStatuses[i]) })
	s.update("member_status", "member_id", []column{
		{"programme_id", "TEXT"}, {"projected_seq", "BIGINT"}, {"tier", "TEXT"}, {"tier_since", "BIGINT"},
		{"tier_valid_until", "BIGINT"}, {"tier_floor", "TEXT"}, {"first_purchase_at", "BIGINT"}, {"last_purchase_at", "BIGINT"},
		{"purchases", "BIGINT"}, {"spend_micros", "BIGINT"}, {"r_score", "INTEGER"}, {"f_score", "INTEGER"},
		{"m_score", "INTEGER"}, {"segment", "TEXT"}, {"segment_since", "BIGINT"},
	}, len(w.Statuses), func(i int) []any { return statusRow(w.Statuses[i]) })
	s.insert("member_purchases", "member_id, entry_id, programme_id, occurred_at, qualifies_at, recorded_at, spend_micros, status_points, points, is_return",
		"", len(w.Purchases), func(i int) []any {
			p := w.Purchases[i]
			return []any{p.MemberID, p.EntryID, p.ProgrammeID, sqldb.Micros(p.OccurredAt), sqldb.Micros(p.QualifiesAt), sqldb.Micros(p.RecordedAt),
				p.SpendMicros, p.StatusPoints, p.Points, p.Return}
		})
	s.insert("member_transitions", "transition_id, member_id, programme_id, kind, from_state, to_state, at, cause",
		"", len(w.Transitions), func(i int) []any {
			tr := w.Transitions[i]
			return []any{tr.ID, tr.MemberID, tr.ProgrammeID, tr.Kind, tr.From, tr.To, sqldb.Micros(tr.At), tr.Cause}
		})
	s.insert("member_events", "position, event_id, member_id, programme_id, type, at, entry_id, points, from_state, to_state, detail, recorded_at",
		"", len(w.Events), func(i int) []any {
			e := w.Events[i]
			return []any{w.Head + int64(i) + 1, e.EventID, e.MemberID, e.ProgrammeID, e.Type, sqldb.Micros(e.At), e.EntryID, e.Points,
				e.From, e.To, e.Detail, sqldb.Micros(w.At)}
		})
	if len(w.Events) > 0 {
		s.stmts = append(s.stmts, sqldb.Stmt{SQL: `UPDATE projection_state SET position = $1 WHERE name = 'member_events'`,
			Args: []any{w.Head + int64(len(w.Events))}})
	}
	if r := w.RFMRun; r != nil {
		s.insert("rfm_runs", "run_id, programme_id, as_of, computed_at, scored, changed", "", 1, func(int) []any {
			return []any{r.ID, r.ProgrammeID, sqldb.Micros(r.AsOf), sqldb.Micros(r.ComputedAt), r.Scored, r.Changed}
		})
	}
	for ids := w.Projected; len(ids) > 0; {
		n := min(len(ids), maxParams)
		s.stmts = append(s.stmts, sqldb.Stmt{SQL: `DELETE FROM ledger_outbox WHERE entry_id IN (` + sqldb.Placeholders(1, n) + `)`,
			Args: anys(ids[:n])})
		ids = ids[n:]
	}
	err := t.db.ExecScript(ctx, t.tx, s.stmts)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", posting.ErrConflict, err)
	}
	return err
}

func (t *txn) NewEpoch(ctx context.Context, at time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE projection_state SET epoch = epoch + 1, epoch_started_at = $1 WHERE name = 'member_events'`,
		sqldb.Micros(at)); err != nil {
		return fmt.Errorf("new event stream epoch: %w", err)
	}
	return nil
}

// derivedEvents are the event types a projection appends (the others are
// time-driven moments, which a rebuild keeps).
var derivedEvents = []any{domain.EventEarned, domain.EventBurned, domain.EventReversed, domain.EventExpired, domain.EventAdjusted,
	domain.EventTierUp, domain.EventTierDown, domain.EventSegmentChanged}

func (t *txn) DropDerivedEvents(ctx context.Context, after, upTo int64, limit int) (int64, error) {
	var last sql.NullInt64
	if err := t.tx.QueryRowContext(ctx, `SELECT MAX(position) FROM (SELECT position FROM member_events
		WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3) AS p`, after, upTo, limit).Scan(&last); err != nil {
		return 0, fmt.Errorf("derived events after %d: %w", after, err)
	}
	if !last.Valid {
		return upTo, nil
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM member_events WHERE position > $1 AND position <= $2 AND type IN (`+
		sqldb.Placeholders(3, len(derivedEvents))+`)`, append([]any{after, last.Int64}, derivedEvents...)...); err != nil {
		return 0, fmt.Errorf("drop derived events in (%d, %d]: %w", after, last.Int64, err)
	}
	return last.Int64, nil
}

func (t *txn) ResetMembers(ctx context.Context, afterID string, limit int) (string, error) {
	var n int
	var last sql.NullString
	if err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*), MAX(member_id) FROM (SELECT member_id FROM ledger_members
		WHERE member_id > $1 ORDER BY member_id LIMIT $2) AS m`, afterID, limit).Scan(&n, &last); err != nil {
		return "", fmt.Errorf("members after %q: %w", afterID, err)
	}
	// The range covers every member id, enrolled or not: the first from
	// the lowest, the last to the highest.
	var conds []string
	var args []any
	if afterID != "" {
		args = append(args, afterID)
		conds = append(conds, fmt.Sprintf("member_id > $%d", len(args)))
	}
	next := ""
	if n == limit && last.Valid {
		next = last.String
		args = append(args, next)
		conds = append(conds, fmt.Sprintf("member_id <= $%d", len(args)))
	}
	where := "TRUE"
	if len(conds) > 0 {
		where = strings.Join(conds, " AND ")
	}
	err := t.db.ExecScript(ctx, t.tx, []sqldb.Stmt{
		{SQL: `DELETE FROM member_status WHERE ` + where, Args: args},
		{SQL: `DELETE FROM member_purchases WHERE ` + where, Args: args},
		{SQL: `DELETE FROM member_transitions WHERE ` + where, Args: args},
		{SQL: `INSERT INTO ledger_outbox (entry_id, member_id, recorded_at) SELECT entry_id, member_id, recorded_at FROM ledger_entries
			WHERE ` + where + ` ON CONFLICT (entry_id) DO NOTHING`, Args: args},
	})
	if err != nil {
		return "", fmt.Errorf("reset the projections of members after %q: %w", afterID, err)
	}
	return next, nil
}
