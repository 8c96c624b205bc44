package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

func (t *txn) Histories(ctx context.Context, programmeID, afterID string, limit int) ([]analytics.MemberHistory, error) {
	var out []analytics.MemberHistory
	idx := map[string]int{}
	err := t.query(ctx, `SELECT member_id, enrolled_at FROM ledger_members WHERE programme_id = $1 AND member_id > $2
		ORDER BY member_id LIMIT $3`, []any{programmeID, afterID, limit}, func(r *sql.Rows) error {
		var h analytics.MemberHistory
		var enrolled int64
		if err := r.Scan(&h.MemberID, &enrolled); err != nil {
			return err
		}
		h.Enrolled = sqldb.FromMicros(enrolled)
		idx[h.MemberID] = len(out)
		out = append(out, h)
		return nil
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	err = t.query(ctx, `SELECT member_id, occurred_at FROM member_purchases
		WHERE member_id >= $1 AND member_id <= $2 AND NOT is_return
		ORDER BY member_id, occurred_at`, []any{out[0].MemberID, out[len(out)-1].MemberID}, func(r *sql.Rows) error {
		var m string
		var at int64
		if err := r.Scan(&m, &at); err != nil {
			return err
		}
		if i, ok := idx[m]; ok {
			out[i].Purchases = append(out[i].Purchases, sqldb.FromMicros(at))
		}
		return nil
	})
	return out, err
}

func (t *txn) TransitionsOf(ctx context.Context, kind string, ids []string) (map[string][]domain.Transition, error) {
	out := map[string][]domain.Transition{}
	err := inChunks(ids, func(ids []string) error {
		q := `SELECT transition_id, member_id, programme_id, kind, from_state, to_state, at, cause FROM member_transitions
			WHERE kind = $1 AND member_id IN (` + sqldb.Placeholders(2, len(ids)) + `) ORDER BY member_id, at, transition_id`
		return t.query(ctx, q, append([]any{kind}, anys(ids)...), func(r *sql.Rows) error {
			var tr domain.Transition
			var at int64
			if err := r.Scan(&tr.ID, &tr.MemberID, &tr.ProgrammeID, &tr.Kind, &tr.From, &tr.To, &at, &tr.Cause); err != nil {
				return err
			}
			tr.At = sqldb.FromMicros(at)
			out[tr.MemberID] = append(out[tr.MemberID], tr)
			return nil
		})
	})
	return out, err
}

func (t *txn) Points(ctx context.Context, programmeID string, from, to time.Time) ([]analytics.PointsRow, error) {
	var out []analytics.PointsRow
	// As kpi_points: expired points count against the channel and partner
	// of the entry that issued the expired lot.
	err := t.query(ctx, `SELECT channel, partner_id, SUM(issued), SUM(burned), SUM(refunded), SUM(expired), SUM(clawed_back)
		FROM (
			SELECT channel, partner_id,
				CASE WHEN kind = 'earn' THEN points ELSE 0 END AS issued,
				CASE WHEN kind IN ('burn', 'capture') THEN points ELSE 0 END AS burned,
				CASE WHEN kind = 'refund' THEN points ELSE 0 END AS refunded,
				0 AS expired,
				CASE WHEN kind = 'clawback' THEN points ELSE 0 END AS clawed_back
			FROM ledger_entries
			WHERE programme_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND kind <> 'expiry'
			UNION ALL
			SELECT src.channel, src.partner_id, 0, 0, 0, -m.points, 0
			FROM ledger_entries x
			JOIN ledger_lot_moves m ON m.entry_id = x.entry_id
			JOIN ledger_lots l ON l.lot_id = m.lot_id
			JOIN ledger_entries src ON src.entry_id = l.source_entry_id
			WHERE x.programme_id = $1 AND x.occurred_at >= $2 AND x.occurred_at < $3 AND x.kind = 'expiry'
		) AS p
		GROUP BY channel, partner_id ORDER BY channel, partner_id`, []any{programmeID, sqldb.Micros(from), sqldb.Micros(to)},
		func(r *sql.Rows) error {
			var p analytics.PointsRow
			err := r.Scan(&p.Channel, &p.PartnerID, &p.Issued, &p.Burned, &p.Refunded, &p.Expired, &p.ClawedBack)
			out = append(out, p)
			return err
		})
	return out, err
}

func (t *txn) Liability(ctx context.Context, programmeID string) (analytics.Liability, error) {
	var l analytics.Liability
	err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(available), 0), COALESCE(SUM(pending), 0), COALESCE(SUM(held), 0)
		FROM ledger_members WHERE programme_id = $1`, programmeID).Scan(&l.Members, &l.Available, &l.Pending, &l.Held)
	if err != nil {
		return l, fmt.Errorf("liability: %w", err)
	}
	return l, nil
}

func (t *txn) FirstEnrolment(ctx context.Context, programmeID string) (time.Time, error) {
	var first int64
	err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MIN(enrolled_at), 0) FROM ledger_members WHERE programme_id = $1`,
		programmeID).Scan(&first)
	if err != nil {
		return time.Time{}, fmt.Errorf("first enrolment: %w", err)
	}
	return sqldb.FromMicros(first), nil
}

func (t *txn) Distribution(ctx context.Context, programmeID, kind string) (map[string]int64, error) {
	col := "segment"
	if kind == domain.TransitionTier {
		col = "tier"
	}
	out := map[string]int64{}
	err := t.query(ctx, `SELECT `+col+`, COUNT(*) FROM member_status WHERE programme_id = $1 AND `+col+` <> '' GROUP BY `+col,
		[]any{programmeID}, func(r *sql.Rows) error {
			var state string
			var n int64
			err := r.Scan(&state, &n)
			out[state] = n
			return err
		})
	return out, err
}

func (t *txn) Buyers(ctx context.Context, programmeID string, calEnd time.Time) (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_members m WHERE m.programme_id = $1 AND EXISTS (
		SELECT 1 FROM member_purchases p WHERE p.member_id = m.member_id AND NOT p.is_return AND p.occurred_at <= $2)`,
		programmeID, sqldb.Micros(calEnd)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count buyers: %w", err)
	}
	return n, nil
}

func (t *txn) NewKPIRun(ctx context.Context, programmeID string) (int64, error) {
	var run int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO kpi_runs (programme_id, last_run) VALUES ($1, 1)
		ON CONFLICT (programme_id) DO UPDATE SET last_run = kpi_runs.last_run + 1 RETURNING last_run`, programmeID).Scan(&run)
	if err != nil {
		return 0, fmt.Errorf("new KPI run of %s: %w", programmeID, err)
	}
	return run, nil
}

func (t *txn) SaveKPIRows(ctx context.Context, w *analytics.KPIRows) error {
	var s script
	s.insert("kpi_run_member_periods", `programme_id, run, period, period_start, period_end, members_start, members_end, new_members,
		active_start, active_end, new_active_end, churned, purchasers, repeat_purchasers`, "", len(w.Periods), func(i int) []any {
		f := w.Periods[i]
		return []any{w.ProgrammeID, w.Run, f.Key, sqldb.Micros(f.Start), sqldb.Micros(f.End), f.MembersStart, f.MembersEnd, f.New,
			f.ActiveStart, f.ActiveEnd, f.NewActiveEnd, f.Churned, f.Purchasers, f.RepeatPurchasers}
	})
	s.insert("kpi_run_cohorts", "programme_id, run, cohort, months_since, cohort_size, active", "", len(w.Cohorts), func(i int) []any {
		c := w.Cohorts[i]
		return []any{w.ProgrammeID, w.Run, c.Cohort, c.MonthsSince, c.Size, c.Active}
	})
	s.insert("kpi_run_transitions", "programme_id, run, kind, period, from_state, to_state, members", "", len(w.Transitions),
		func(i int) []any {
			c := w.Transitions[i]
			return []any{w.ProgrammeID, w.Run, c.Kind, c.Period, c.From, c.To, c.Members}
		})
	if m := w.Model; m != nil {
		s.insert("kpi_run_churn_models", `programme_id, run, fitted_at, calibration_end, customers, r, alpha, a, b, log_likelihood,
			horizon_weeks`, "", 1, func(int) []any {
			return []any{w.ProgrammeID, w.Run, sqldb.Micros(m.FittedAt), sqldb.Micros(m.CalibrationEnd), m.Customers, m.R, m.Alpha, m.A,
				m.B, m.LogLikelihood, m.HorizonWeeks}
		})
	}
	s.insert("kpi_run_churn_risk", `programme_id, run, member_id, member_key, repeat_purchases, t_x_weeks, t_weeks, p_alive,
		expected_purchases`, "", len(w.Risks), func(i int) []any {
		r := w.Risks[i]
		return []any{w.ProgrammeID, w.Run, r.MemberID, r.MemberKey, r.RepeatPurchases, r.TxWeeks, r.TWeeks, r.PAlive, r.ExpectedPurchases}
	})
	if err := t.db.ExecScript(ctx, t.tx, s.stmts); err != nil {
		return fmt.Errorf("save KPI rows of run %d: %w", w.Run, err)
	}
	return nil
}

func (t *txn) SwitchKPIRun(ctx context.Context, r *analytics.KPIRun) (bool, error) {
	var current int64
	err := t.tx.QueryRowContext(ctx, `SELECT run FROM kpi_programmes WHERE programme_id = $1`+t.db.ForUpdate("kpi_programmes"),
		r.ProgrammeID).Scan(&current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		current = -1
	case err != nil:
		return false, fmt.Errorf("current KPI run of %s: %w", r.ProgrammeID, err)
	}
	if current >= r.Run {
		return false, nil
	}
	churn := "kpi_programmes.churn_run"
	if r.HasModel {
		churn = "excluded.churn_run"
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO kpi_programmes
			(programme_id, currency, point_value, inactive_days, refreshed_at, run, churn_run) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (programme_id) DO UPDATE SET currency = excluded.currency, point_value = excluded.point_value,
			inactive_days = excluded.inactive_days, refreshed_at = excluded.refreshed_at, run = excluded.run,
			churn_run = `+churn, r.ProgrammeID, r.Currency, r.PointValue, r.InactiveDays, sqldb.Micros(r.RefreshedAt), r.Run,
		churnRun(r)); err != nil {
		return false, fmt.Errorf("switch KPI run of %s to %d: %w", r.ProgrammeID, r.Run, err)
	}
	return true, nil
}

// churnRun is the churn run a programme's first KPI run records: its own
// if it has a model, else none (0, no rows).
func churnRun(r *analytics.KPIRun) int64 {
	if r.HasModel {
		return r.Run
	}
	return 0
}

// kpiRunTables are the tables of KPI runs, their keys after (programme_id,
// run), and the kpi_programmes column holding their current run.
var kpiRunTables = []struct{ table, key, current string }{
	{"kpi_run_member_periods", "period", "run"},
	{"kpi_run_cohorts", "cohort, months_since", "run"},
	{"kpi_run_transitions", "kind, period, from_state, to_state", "run"},
	{"kpi_run_churn_models", "run", "churn_run"},
	{"kpi_run_churn_risk", "member_id", "churn_run"},
}

func (t *txn) DropKPIRuns(ctx context.Context, programmeID string, limit int) (int, error) {
	deleted := 0
	for _, k := range kpiRunTables {
		// Runs older than the current one: a refresh still writing a later
		// run is left alone. Without a current run, nothing is superseded.
		res, err := t.tx.ExecContext(ctx, `DELETE FROM `+k.table+` WHERE programme_id = $1 AND (run, `+k.key+`) IN (
			SELECT d.run, `+prefixed("d.", k.key)+` FROM `+k.table+` d JOIN kpi_programmes p ON p.programme_id = d.programme_id
			WHERE d.programme_id = $1 AND d.run < p.`+k.current+` LIMIT $2)`, programmeID, limit)
		if err != nil {
			return deleted, fmt.Errorf("drop superseded KPI runs of %s from %s: %w", programmeID, k.table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return deleted, fmt.Errorf("drop superseded KPI runs of %s from %s: %w", programmeID, k.table, err)
		}
		deleted += int(n)
	}
	return deleted, nil
}

// prefixed qualifies a list of columns.
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		parts[i] = prefix + c
	}
	return strings.Join(parts, ", ")
}

func (t *txn) ChurnModel(ctx context.Context, programmeID string) (*analytics.ChurnModel, error) {
	m := analytics.ChurnModel{ProgrammeID: programmeID}
	var fitted, cal int64
	err := t.tx.QueryRowContext(ctx, `SELECT fitted_at, calibration_end, customers, r, alpha, a, b, log_likelihood, horizon_weeks
		FROM kpi_churn_models WHERE programme_id = $1`, programmeID).Scan(&fitted, &cal, &m.Customers, &m.R, &m.Alpha, &m.A, &m.B,
		&m.LogLikelihood, &m.HorizonWeeks)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("churn model: %w", err)
	}
	m.FittedAt, m.CalibrationEnd = sqldb.FromMicros(fitted), sqldb.FromMicros(cal)
	return &m, nil
}

func (t *txn) ChurnRisk(ctx context.Context, programmeID, memberID string) (*analytics.ChurnRisk, error) {
	r := analytics.ChurnRisk{MemberID: memberID}
	err := t.tx.QueryRowContext(ctx, `SELECT member_key, repeat_purchases, t_x_weeks, t_weeks, p_alive, expected_purchases
		FROM kpi_churn_risk WHERE programme_id = $1 AND member_id = $2`, programmeID, memberID).Scan(
		&r.MemberKey, &r.RepeatPurchases, &r.TxWeeks, &r.TWeeks, &r.PAlive, &r.ExpectedPurchases)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("churn risk: %w", err)
	}
	return &r, nil
}

func (t *txn) SaveAnonymousSales(ctx context.Context, s analytics.AnonymousSales) (analytics.AnonymousSales, error) {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO ledger_anonymous_sales
			(programme_id, store_id, business_day, transactions, counted_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (programme_id, business_day, store_id) DO UPDATE
			SET transactions = excluded.transactions, counted_at = excluded.counted_at
			WHERE excluded.counted_at >= ledger_anonymous_sales.counted_at`,
		s.ProgrammeID, s.StoreID, s.BusinessDay, s.Transactions, sqldb.Micros(s.CountedAt)); err != nil {
		return s, fmt.Errorf("save anonymous sales: %w", err)
	}
	var counted int64
	if err := t.tx.QueryRowContext(ctx, `SELECT transactions, counted_at FROM ledger_anonymous_sales
		WHERE programme_id = $1 AND business_day = $2 AND store_id = $3`, s.ProgrammeID, s.BusinessDay, s.StoreID).
		Scan(&s.Transactions, &counted); err != nil {
		return s, fmt.Errorf("read anonymous sales: %w", err)
	}
	s.CountedAt = sqldb.FromMicros(counted)
	return s, nil
}

func (t *txn) ProgrammeStats(ctx context.Context, st *analytics.ProgrammeStats, fromDay, toDay string) error {
	from, to := sqldb.Micros(st.From), sqldb.Micros(st.To)
	var first int64
	if err := t.tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM ledger_members WHERE programme_id = $1 AND enrolled_at <= $3),
			(SELECT COUNT(DISTINCT member_id) FROM member_purchases
				WHERE programme_id = $1 AND occurred_at > $2 AND occurred_at <= $3 AND NOT is_return),
			(SELECT COUNT(*) FROM member_purchases
				WHERE programme_id = $1 AND occurred_at > $2 AND occurred_at <= $3 AND NOT is_return),
			(SELECT COALESCE(MIN(occurred_at), 0) FROM member_purchases WHERE programme_id = $1 AND NOT is_return),
			(SELECT COALESCE(SUM(transactions), 0) FROM ledger_anonymous_sales
				WHERE programme_id = $1 AND business_day > $4 AND business_day <= $5),
			(SELECT COUNT(*) FROM ledger_anonymous_sales
				WHERE programme_id = $1 AND business_day > $4 AND business_day <= $5),
			(SELECT COUNT(*) FROM member_purchases p JOIN ledger_entries e ON e.entry_id = p.entry_id
				WHERE p.programme_id = $1 AND p.occurred_at > $2 AND p.occurred_at <= $3 AND NOT p.is_return AND e.channel = 'pos')`,
		st.ProgrammeID, from, to, fromDay, toDay).Scan(&st.Members, &st.Buyers, &st.Purchases, &first,
		&st.AnonymousTransactions, &st.AnonymousStoreDays, &st.StorePurchases); err != nil {
		return fmt.Errorf("programme stats: %w", err)
	}
	st.FirstPurchase = sqldb.FromMicros(first)
	return nil
}

func (t *txn) Secret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO ledger_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, fresh); err != nil {
		return nil, fmt.Errorf("store secret %s: %w", name, err)
	}
	var secret []byte
	if err := t.tx.QueryRowContext(ctx, `SELECT secret FROM ledger_secrets WHERE name = $1`, name).Scan(&secret); err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	return secret, nil
}
