package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Save writes a unit of work: one multi-row statement per table, all sent
// in one round trip (see sqldb.ExecScript). A unique key taken by a
// concurrent transaction (an idempotency key, a member's external ref) is
// posting.ErrConflict: running the batch again resolves it.
func (t *txn) Save(ctx context.Context, w *posting.Writes) error {
	var s script
	s.add(w)
	err := t.db.ExecScript(ctx, t.tx, s.stmts)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", posting.ErrConflict, err)
	}
	return err
}

type script struct {
	stmts []sqldb.Stmt
}

func (s *script) add(w *posting.Writes) {
	member := func(m *domain.Member) []any {
		return []any{m.ID, m.ProgrammeID, m.ExternalRef, m.BirthDate, m.PartnerConsent, sqldb.Micros(m.EnrolledAt),
			m.Available, m.Pending, m.Held, m.Debt, m.LifetimeEarned, m.LifetimeBurned, m.Seq, sqldb.Micros(m.NextDueAt), sqldb.Micros(m.UpdatedAt)}
	}
	s.insert("ledger_members", memberCols, "", len(w.NewMembers), func(i int) []any {
		return member(w.NewMembers[i])
	})
	// The partner consent given at enrolment is the first change of the
	// member's partner marketing consent (see ConsentService).
	var consenting []*domain.Member
	for _, m := range w.NewMembers {
		if m.PartnerConsent {
			consenting = append(consenting, m)
		}
	}
	s.insert("consent_changes", consentChangeCols, "", len(consenting), func(i int) []any {
		m := consenting[i]
		return []any{enrolmentConsentID(m.ID), m.ID, m.ProgrammeID, domain.PurposePartnerMarketing, "", true, domain.ConsentSourceEnrolment,
			domain.ConsentSourceEnrolment, domain.ConsentSourceEnrolment, sqldb.Micros(m.EnrolledAt), sqldb.Micros(m.UpdatedAt)}
	})
	s.insert("consent_current", consentCurrentCols, "", len(consenting), func(i int) []any {
		m := consenting[i]
		return []any{m.ID, domain.PurposePartnerMarketing, "", true, enrolmentConsentID(m.ID), sqldb.Micros(m.UpdatedAt)}
	})
	s.update("ledger_members", "member_id", []column{
		{"available", "BIGINT"}, {"pending", "BIGINT"}, {"held", "BIGINT"}, {"debt", "BIGINT"},
		{"lifetime_earned", "BIGINT"}, {"lifetime_burned", "BIGINT"}, {"seq", "BIGINT"}, {"next_due_at", "BIGINT"},
		{"updated_at", "BIGINT"},
	}, len(w.Members), func(i int) []any {
		m := w.Members[i]
		return []any{m.ID, m.Available, m.Pending, m.Held, m.Debt, m.LifetimeEarned, m.LifetimeBurned, m.Seq,
			sqldb.Micros(m.NextDueAt), sqldb.Micros(m.UpdatedAt)}
	})
	s.insert("ledger_entries", entryCols, "", len(w.Entries), func(i int) []any {
		e := w.Entries[i]
		var amount, currency, reverses, hold any
		if e.Purchase != nil {
			amount, currency = e.Purchase.Amount, e.Purchase.Currency
		}
		if e.ReversesEntryID != "" {
			reverses = e.ReversesEntryID
		}
		if e.HoldID != "" {
			hold = e.HoldID
		}
		return []any{e.ID, e.MemberID, e.ProgrammeID, e.Seq, string(e.Kind), e.Points, e.BasePoints, e.Tier, e.AvailableAfter, e.PendingAfter,
			e.HeldAfter, string(e.Channel), e.StoreID, e.OrderRef, amount, currency, e.Uncollected, e.Reason, e.Operator,
			reverses, hold, sqldb.Micros(e.OccurredAt), sqldb.Micros(e.RecordedAt), e.ConfigVersion, e.Caller, e.PartnerID}
	})
	type posting struct {
		entry string
		domain.Posting
	}
	var postings []posting
	for _, e := range w.Entries {
		for _, p := range e.Postings {
			postings = append(postings, posting{e.ID, p})
		}
	}
	s.insert("ledger_postings", "entry_id, account, amount", "", len(postings), func(i int) []any {
		return []any{postings[i].entry, postings[i].Account, postings[i].Amount}
	})
	s.insert("ledger_lots", lotCols, "", len(w.NewLots), func(i int) []any {
		l := w.NewLots[i]
		return []any{l.ID, l.MemberID, l.SourceEntryID, l.Points, l.Remaining, l.Pending,
			sqldb.Micros(l.AvailableAt), sqldb.Micros(l.ExpiresAt), sqldb.Micros(l.CreatedAt)}
	})
	s.update("ledger_lots", "lot_id", []column{
		{"remaining", "BIGINT"}, {"pending", "BOOLEAN"}, {"expires_at", "BIGINT"},
	}, len(w.Lots), func(i int) []any {
		l := w.Lots[i]
		return []any{l.ID, l.Remaining, l.Pending, sqldb.Micros(l.ExpiresAt)}
	})
	s.insert("ledger_lot_moves", "entry_id, lot_id, origin_entry_id, points", "", len(w.Moves), func(i int) []any {
		m := w.Moves[i]
		return []any{m.EntryID, m.LotID, m.OriginEntryID, m.Points}
	})
	s.insert("ledger_holds", holdCols, "", len(w.NewHolds), func(i int) []any {
		h := w.NewHolds[i]
		return []any{h.ID, h.MemberID, h.EntryID, h.Points, h.Captured, h.Released, string(h.Status),
			h.Reference, sqldb.Micros(h.CreatedAt), sqldb.Micros(h.ExpiresAt), sqldb.Micros(h.UpdatedAt)}
	})
	s.update("ledger_holds", "hold_id", []column{
		{"captured", "BIGINT"}, {"released", "BIGINT"}, {"status", "TEXT"}, {"updated_at", "BIGINT"},
	}, len(w.Holds), func(i int) []any {
		h := w.Holds[i]
		return []any{h.ID, h.Captured, h.Released, string(h.Status), sqldb.Micros(h.UpdatedAt)}
	})
	// Every entry goes to the outbox, for the projections (see projection.go).
	s.insert("ledger_outbox", "entry_id, member_id, recorded_at", "", len(w.Entries), func(i int) []any {
		e := w.Entries[i]
		return []any{e.ID, e.MemberID, sqldb.Micros(e.RecordedAt)}
	})
	s.insert("ledger_idempotency", "caller, idem_key, method, request_hash, hash_version, response, created_at", "", len(w.Idem), func(i int) []any {
		r := w.Idem[i]
		return []any{r.Caller, r.Key.Key, r.Method, r.Hash, r.HashVersion, r.Response, sqldb.Micros(r.CreatedAt)}
	})
}

// maxRows bounds the rows of one INSERT: SQLite's parser slows down on
// very long VALUES lists.
const maxRows = 256

// insert adds multi-row INSERT statements for n rows.
func (s *script) insert(table, cols, suffix string, n int, row func(int) []any) {
	width := strings.Count(cols, ",") + 1
	per := min(maxParams/width, maxRows)
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		var q strings.Builder
		q.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		args := make([]any, 0, (end-start)*width)
		for i := start; i < end; i++ {
			if i > start {
				q.WriteString(", ")
			}
			q.WriteString("(" + sqldb.Placeholders(len(args)+1, width) + ")")
			args = append(args, row(i)...)
		}
		q.WriteString(suffix)
		s.stmts = append(s.stmts, sqldb.Stmt{SQL: q.String(), Args: args})
	}
}

type column struct {
	name string
	// typ is the SQL type the value is cast to: a VALUES list carries no
	// column types of its own.
	typ string
}

// update adds statements setting cols of n rows identified by key
// (row(i)[0]): UPDATE ... FROM (VALUES ...), a form all three engines share.
func (s *script) update(table, key string, cols []column, n int, row func(int) []any) {
	width := len(cols) + 1
	per := maxParams / width
	var set strings.Builder
	for i, c := range cols {
		if i > 0 {
			set.WriteString(", ")
		}
		fmt.Fprintf(&set, "%s = v.column%d", c.name, i+2)
	}
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		var q strings.Builder
		q.WriteString("UPDATE " + table + " SET " + set.String() + " FROM (VALUES ")
		args := make([]any, 0, (end-start)*width)
		for i := start; i < end; i++ {
			if i > start {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "(CAST($%d AS TEXT)", len(args)+1)
			for j, c := range cols {
				fmt.Fprintf(&q, ", CAST($%d AS %s)", len(args)+2+j, c.typ)
			}
			q.WriteString(")")
			args = append(args, row(i)...)
		}
		q.WriteString(") AS v WHERE " + table + "." + key + " = v.column1")
		s.stmts = append(s.stmts, sqldb.Stmt{SQL: q.String(), Args: args})
	}
}
