package posting_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// The model: a member is three numbers, a purchase earn is how much of it
// is still pending and how much was reversed, a burn how much was refunded,
// a hold how much it reserves and until when. Time moves at most 300 days
// in a run, so no lot reaches its 12-month expiry.
type modelMember struct {
	id                       string
	available, pending, held int64
}

type modelEarn struct {
	member      *modelMember
	entryID     string
	points      int64
	reversed    int64
	pendingLeft int64
	releaseAt   time.Time
}

type modelBurn struct {
	member   *modelMember
	entryID  string
	points   int64
	refunded int64
}

type modelHold struct {
	member    *modelMember
	id        string
	points    int64
	expiresAt time.Time
	open      bool
}

type machine struct {
	env     *ledgertest.Env
	prog    *domain.Programme
	members []*modelMember
	earns   []*modelEarn
	burns   []*modelBurn
	holds   []*modelHold
	elapsed time.Duration
	n       int
}

func (m *machine) key() string { m.n++; return fmt.Sprintf("model-%d-%d", time.Now().UnixNano(), m.n) }

func ctxT() context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	_ = cancel // released when the test process ends; each call is short
	return c
}

// wantRule fails unless err is a broken ledger rule (and not, say, a store
// failure), when the model says the request must be refused.
func wantRule(t *rapid.T, what string, err error) {
	if _, ok := fault.As(err); !ok {
		t.Fatalf("%s: got %v, want a refusal", what, err)
	}
}

func (m *machine) pick(t *rapid.T) *modelMember {
	return rapid.SampledFrom(m.members).Draw(t, "member")
}

func (m *machine) earnPoints(t *rapid.T) {
	mm := m.pick(t)
	n := rapid.Int64Range(1, 300).Draw(t, "points")
	r, err := m.env.Ledger.Posting.Earn(ctxT(), principal.System("model"), m.key(), mm.id, domain.EarnCmd{Points: n, Channel: domain.ChannelPOS})
	if err != nil {
		t.Fatal(err)
	}
	mm.available += n
	m.earns = append(m.earns, &modelEarn{member: mm, entryID: r.Entry.ID, points: n})
}

func (m *machine) earnPurchase(t *rapid.T) {
	mm := m.pick(t)
	euros := rapid.Int64Range(1, 300).Draw(t, "euros")
	now := m.env.Clock.Now()
	r, err := m.env.Ledger.Posting.Earn(ctxT(), principal.System("model"), m.key(), mm.id, domain.EarnCmd{
		Purchase: &money.Money{Amount: decimal.NewFromInt(euros), Currency: "EUR"}, Channel: domain.ChannelPOS,
	})
	if err != nil {
		t.Fatal(err)
	}
	mm.pending += euros
	m.earns = append(m.earns, &modelEarn{member: mm, entryID: r.Entry.ID, points: euros, pendingLeft: euros,
		releaseAt: m.prog.PendingUntil(now.UTC().Truncate(time.Microsecond))})
}

func (m *machine) burn(t *rapid.T) {
	mm := m.pick(t)
	n := rapid.Int64Range(1, 400).Draw(t, "points")
	r, err := m.env.Ledger.Posting.Burn(ctxT(), principal.System("model"), m.key(), mm.id, domain.BurnCmd{Points: n, Channel: domain.ChannelPOS})
	if mm.available < n {
		wantRule(t, "burn beyond the balance", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	mm.available -= n
	m.burns = append(m.burns, &modelBurn{member: mm, entryID: r.Entry.ID, points: n})
}

func (m *machine) hold(t *rapid.T) {
	mm := m.pick(t)
	n := rapid.Int64Range(1, 300).Draw(t, "points")
	ttl := time.Duration(rapid.IntRange(1, 60).Draw(t, "ttl minutes")) * time.Minute
	r, err := m.env.Ledger.Posting.Hold(ctxT(), principal.System("model"), m.key(), mm.id, domain.HoldCmd{Points: n, TTL: ttl, Channel: domain.ChannelEcommerce})
	if mm.available < n {
		wantRule(t, "hold beyond the balance", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	mm.available -= n
	mm.held += n
	m.holds = append(m.holds, &modelHold{member: mm, id: r.Hold.ID, points: n, expiresAt: r.Hold.ExpiresAt, open: true})
}

func (m *machine) capture(t *rapid.T) {
	if len(m.holds) == 0 {
		t.Skip("no holds")
	}
	h := rapid.SampledFrom(m.holds).Draw(t, "hold")
	part := rapid.Int64Range(0, h.points+1).Draw(t, "points")
	_, err := m.env.Ledger.Posting.Capture(ctxT(), principal.System("model"), m.key(), h.id, part)
	if !h.open || part > h.points {
		wantRule(t, "capture of a closed hold or beyond it", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if part == 0 {
		part = h.points
	}
	h.open = false
	h.member.held -= h.points
	h.member.available += h.points - part
	m.burns = append(m.burns, &modelBurn{member: h.member, entryID: captureEntry(t, m, h.id), points: part})
}

func captureEntry(t *rapid.T, m *machine, holdID string) string {
	var id string
	err := m.env.DB.QueryRowContext(ctxT(), `SELECT entry_id FROM ledger_entries WHERE hold_id = $1 AND kind = 'capture'`, holdID).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (m *machine) release(t *rapid.T) {
	if len(m.holds) == 0 {
		t.Skip("no holds")
	}
	h := rapid.SampledFrom(m.holds).Draw(t, "hold")
	_, err := m.env.Ledger.Posting.Release(ctxT(), principal.System("model"), m.key(), h.id)
	if !h.open {
		wantRule(t, "release of a closed hold", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	h.open = false
	h.member.held -= h.points
	h.member.available += h.points
}

func (m *machine) clawback(t *rapid.T) {
	if len(m.earns) == 0 {
		t.Skip("no earns")
	}
	e := rapid.SampledFrom(m.earns).Draw(t, "earn")
	n := rapid.Int64Range(1, e.points+1).Draw(t, "points")
	r, err := m.env.Ledger.Posting.Reverse(ctxT(), principal.System("model"), m.key(), posting.Reversal{EntryID: e.entryID, Portion: domain.Portion{Points: n}})
	if n > e.points-e.reversed {
		wantRule(t, "clawback beyond the earn", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	mm := e.member
	fromPending := min(n, e.pendingLeft)
	rest := n - fromPending
	take := min(rest, max(mm.available-m.prog.Floor, 0))
	if r.Entry.Points != fromPending+take || r.Entry.Uncollected != rest-take {
		t.Fatalf("clawback of %d: collected %d, uncollected %d; model says %d and %d", n, r.Entry.Points,
			r.Entry.Uncollected, fromPending+take, rest-take)
	}
	e.reversed += n
	e.pendingLeft -= fromPending
	mm.pending -= fromPending
	mm.available -= take
}

func (m *machine) refund(t *rapid.T) {
	if len(m.burns) == 0 {
		t.Skip("no burns")
	}
	b := rapid.SampledFrom(m.burns).Draw(t, "burn")
	n := rapid.Int64Range(1, b.points+1).Draw(t, "points")
	_, err := m.env.Ledger.Posting.Reverse(ctxT(), principal.System("model"), m.key(), posting.Reversal{EntryID: b.entryID, Portion: domain.Portion{Points: n}})
	if n > b.points-b.refunded {
		wantRule(t, "refund beyond the burn", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	b.refunded += n
	b.member.available += n
}

func (m *machine) adjust(t *rapid.T) {
	mm := m.pick(t)
	n := rapid.Int64Range(-300, 300).Filter(func(v int64) bool { return v != 0 }).Draw(t, "points")
	_, err := m.env.Ledger.Posting.Adjust(ctxT(), principal.System("model"), m.key(), mm.id, domain.AdjustCmd{Points: n, Reason: "model", Operator: "rapid"})
	if mm.available+n < m.prog.Floor {
		wantRule(t, "debit below the floor", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	mm.available += n
}

func (m *machine) advance(t *rapid.T) {
	d := rapid.SampledFrom([]time.Duration{time.Minute, 30 * time.Minute, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 15 * 24 * time.Hour}).Draw(t, "advance")
	if m.elapsed+d > 300*24*time.Hour {
		t.Skip("no further: lots would start expiring")
	}
	m.elapsed += d
	m.env.Clock.Advance(d)
	now := m.env.Clock.Now()
	for _, h := range m.holds {
		if h.open && !now.Before(h.expiresAt) {
			h.open = false
			h.member.held -= h.points
			h.member.available += h.points
		}
	}
	for _, e := range m.earns {
		if e.pendingLeft > 0 && !now.Before(e.releaseAt) {
			e.member.pending -= e.pendingLeft
			e.member.available += e.pendingLeft
			e.pendingLeft = 0
		}
	}
}

func (m *machine) check(t *rapid.T) {
	for _, mm := range m.members {
		b, err := m.env.Ledger.Posting.Balance(ctxT(), principal.System("model"), mm.id)
		if err != nil {
			t.Fatal(err)
		}
		if b.Available != mm.available || b.Pending != mm.pending || b.Held != mm.held {
			t.Fatalf("member %s: ledger %d/%d/%d, model %d/%d/%d (available/pending/held)", mm.id,
				b.Available, b.Pending, b.Held, mm.available, mm.pending, mm.held)
		}
	}
}

// TestLedgerAgainstModel drives random operations through the app on each
// store and compares every balance with the model after every step, then
// checks the store's invariants.
func TestLedgerAgainstModel(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		prog, _ := env.Cfg.Programme("test")
		rapid.Check(t, func(t *rapid.T) {
			m := &machine{env: env, prog: prog}
			for range 3 {
				mem, err := env.Ledger.Posting.Enrol(ctxT(), principal.System("model"), m.key(), posting.Enrolment{ProgrammeID: "test", ExternalRef: m.key()})
				if err != nil {
					t.Fatal(err)
				}
				m.members = append(m.members, &modelMember{id: mem.ID})
			}
			t.Repeat(map[string]func(*rapid.T){
				"":             m.check,
				"earnPoints":   m.earnPoints,
				"earnPurchase": m.earnPurchase,
				"burn":         m.burn,
				"hold":         m.hold,
				"capture":      m.capture,
				"release":      m.release,
				"clawback":     m.clawback,
				"refund":       m.refund,
				"adjust":       m.adjust,
				"advance":      m.advance,
			})
			if err := ledgertest.Invariants(ctxT(), db, env.Cfg); err != nil {
				t.Fatal(err)
			}
		})
	})
}
