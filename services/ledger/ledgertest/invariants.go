package ledgertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// CheckInvariants reads the whole ledger back from the database and fails
// the test unless: every entry's postings sum to zero; every member balance
// equals the sum of its account's postings; every lot's remaining equals the
// sum of its moves; the member balances agree with their lots and holds;
// nothing is below its floor; each member's entries are numbered 1..n.
func CheckInvariants(t testing.TB, db *sqldb.DB, cfg *domain.Config) {
	t.Helper()
	if err := Invariants(context.Background(), db, cfg); err != nil {
		t.Fatal(err)
	}
}

// Invariants is CheckInvariants returning the first violation.
func Invariants(ctx context.Context, db *sqldb.DB, cfg *domain.Config) error {
	type sum struct {
		key string
		n   int64
	}
	sums := func(q string) (map[string]int64, error) {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var s sum
			if err := rows.Scan(&s.key, &s.n); err != nil {
				return nil, err
			}
			out[s.key] = s.n
		}
		return out, rows.Err()
	}
	unbalanced, err := sums(`SELECT entry_id, SUM(amount) FROM ledger_postings GROUP BY entry_id HAVING SUM(amount) <> 0`)
	if err != nil {
		return err
	}
	for id, n := range unbalanced {
		return fmt.Errorf("entry %s postings sum to %d, not 0", id, n)
	}
	accounts, err := sums(`SELECT account, SUM(amount) FROM ledger_postings GROUP BY account`)
	if err != nil {
		return err
	}
	lotMoves, err := sums(`SELECT lot_id, SUM(points) FROM ledger_lot_moves GROUP BY lot_id`)
	if err != nil {
		return err
	}
	lotSums := map[string]map[bool]int64{}
	rows, err := db.QueryContext(ctx, `SELECT lot_id, member_id, remaining, pending FROM ledger_lots`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, member string
		var remaining int64
		var pending bool
		if err := rows.Scan(&id, &member, &remaining, &pending); err != nil {
			rows.Close()
			return err
		}
		if remaining != lotMoves[id] {
			rows.Close()
			return fmt.Errorf("lot %s remaining %d != sum of its moves %d", id, remaining, lotMoves[id])
		}
		if lotSums[member] == nil {
			lotSums[member] = map[bool]int64{}
		}
		lotSums[member][pending] += remaining
	}
	rows.Close()
	held, err := sums(`SELECT member_id, SUM(points - captured - released) FROM ledger_holds WHERE status = 'active' GROUP BY member_id`)
	if err != nil {
		return err
	}
	counts, err := sums(`SELECT member_id, COUNT(*) FROM ledger_entries GROUP BY member_id`)
	if err != nil {
		return err
	}
	maxSeq, err := sums(`SELECT member_id, MAX(seq) FROM ledger_entries GROUP BY member_id`)
	if err != nil {
		return err
	}
	due, err := sums(`SELECT member_id, MIN(due) FROM (
			SELECT member_id, available_at AS due FROM ledger_lots WHERE pending
			UNION ALL SELECT member_id, expires_at FROM ledger_lots WHERE NOT pending AND remaining > 0 AND expires_at > 0
			UNION ALL SELECT member_id, expires_at FROM ledger_holds WHERE status = 'active'
		) AS d GROUP BY member_id`)
	if err != nil {
		return err
	}
	rows, err = db.QueryContext(ctx, `SELECT member_id, programme_id, available, pending, held, debt, seq, next_due_at FROM ledger_members`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var m domain.Member
		var nextDue int64
		if err := rows.Scan(&id, &m.ProgrammeID, &m.Available, &m.Pending, &m.Held, &m.Debt, &m.Seq, &nextDue); err != nil {
			return err
		}
		prog, ok := cfg.Programme(m.ProgrammeID)
		if !ok {
			return fmt.Errorf("member %s in unknown programme %q", id, m.ProgrammeID)
		}
		for bucket, bal := range map[string]int64{domain.BucketAvailable: m.Available, domain.BucketPending: m.Pending, domain.BucketHeld: m.Held} {
			if got := accounts[domain.MemberAccount(id, bucket)]; got != bal {
				return fmt.Errorf("member %s %s balance %d != sum of its postings %d", id, bucket, bal, got)
			}
		}
		switch {
		case lotSums[id][false]-m.Debt != m.Available:
			return fmt.Errorf("member %s available %d != active lots %d - debt %d", id, m.Available, lotSums[id][false], m.Debt)
		case m.Debt > 0 && lotSums[id][false] > 0:
			return fmt.Errorf("member %s owes %d while holding %d lot points", id, m.Debt, lotSums[id][false])
		case lotSums[id][true] != m.Pending:
			return fmt.Errorf("member %s pending %d != pending lots %d", id, m.Pending, lotSums[id][true])
		case held[id] != m.Held:
			return fmt.Errorf("member %s held %d != active holds %d", id, m.Held, held[id])
		case m.Available < prog.Floor:
			return fmt.Errorf("member %s available %d below the floor %d", id, m.Available, prog.Floor)
		case m.Pending < 0 || m.Held < 0 || m.Debt < 0:
			return fmt.Errorf("member %s has a negative bucket: %+v", id, m)
		case nextDue != due[id]:
			return fmt.Errorf("member %s next_due_at %d, but its lots and holds fall due at %d", id, nextDue, due[id])
		case counts[id] != m.Seq || maxSeq[id] != m.Seq:
			return fmt.Errorf("member %s seq %d but %d entries (max seq %d)", id, m.Seq, counts[id], maxSeq[id])
		}
	}
	return rows.Err()
}

// Counts returns the number of rows of every ledger table, to show that a
// refused request wrote nothing.
func Counts(t testing.TB, db *sqldb.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"ledger_members", "ledger_entries", "ledger_postings", "ledger_lots",
		"ledger_lot_moves", "ledger_holds", "ledger_idempotency"} {
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}
