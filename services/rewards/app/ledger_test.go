package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
	"github.com/fidelis-loyalty/fidelis/services/rewards/store"
)

// These tests drive the rewards use cases against an in-memory ledger
// behind the app's Ledger port: what the app does when the ledger refuses,
// fails, or loses a reply, without a ledger service.

var errLedgerDown = errors.New("ledger unavailable")

// memLedger is a ledger of points per member with holds, idempotent per key.
type memLedger struct {
	mu        sync.Mutex
	programme map[string]string // member → programme
	available map[string]int64
	earned    map[string]int64
	holds     map[string]*memHold
	captures  map[string]string // capture entry → hold
	refunded  map[string]bool   // capture entry → refunded
	done      map[string]string // idempotency key → result
	// fail makes the next calls of a step fail before they act; lose makes
	// them act and then fail, as a reply lost on the way back; draining
	// makes them answer Unavailable before they act. (Steps: hold,
	// capture, release, refund, programme.)
	fail, lose, draining map[string]int
}

type memHold struct {
	member, status string
	points         int64
}

func newMemLedger() *memLedger {
	return &memLedger{
		programme: map[string]string{}, available: map[string]int64{}, earned: map[string]int64{},
		holds: map[string]*memHold{}, captures: map[string]string{}, refunded: map[string]bool{},
		done: map[string]string{}, fail: map[string]int{}, lose: map[string]int{}, draining: map[string]int{},
	}
}

func (l *memLedger) enrol(member, programme string, points int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.programme[member], l.available[member], l.earned[member] = programme, points, points
}

// step runs an idempotent ledger call: a key seen before returns its
// result; a fault leaves the key free.
func (l *memLedger) step(name, key string, act func() (string, error)) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.failing(name); err != nil {
		return "", err
	}
	if id, ok := l.done[key]; ok {
		return id, nil
	}
	id, err := act()
	if err != nil {
		return "", err
	}
	l.done[key] = id
	if l.lose[name] > 0 {
		l.lose[name]--
		return "", errLedgerDown
	}
	return id, nil
}

// failing is the failure the next call of a step meets, if any (l.mu held).
func (l *memLedger) failing(name string) error {
	if l.fail[name] > 0 {
		l.fail[name]--
		return errLedgerDown
	}
	if l.draining[name] > 0 {
		l.draining[name]--
		return fault.Unavailable(fault.ShuttingDown, "ledger is shutting down")
	}
	return nil
}

func (l *memLedger) MemberProgramme(_ context.Context, m string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.failing("programme"); err != nil {
		return "", err
	}
	p, ok := l.programme[m]
	if !ok {
		return "", fault.NotFound(fault.MemberNotFound, "member %s not found", m)
	}
	return p, nil
}

func (l *memLedger) Available(_ context.Context, m string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.available[m], nil
}

func (l *memLedger) Tiers(context.Context, string) ([]string, error) { return nil, nil }
func (l *memLedger) Tier(context.Context, string) (string, error)    { return "", nil }
func (l *memLedger) Segment(context.Context, string) (string, error) { return "", nil }
func (l *memLedger) Profiling(context.Context, string) (bool, error) { return true, nil }

func (l *memLedger) Hold(_ context.Context, key string, h app.HoldRequest) (string, error) {
	return l.step("hold", key, func() (string, error) {
		if l.available[h.MemberID] < h.Points {
			return "", fault.Precondition(fault.InsufficientPoints, "insufficient points: %d available", l.available[h.MemberID])
		}
		l.available[h.MemberID] -= h.Points
		id := fmt.Sprintf("hold-%d", len(l.holds)+1)
		l.holds[id] = &memHold{member: h.MemberID, points: h.Points, status: "active"}
		return id, nil
	})
}

func (l *memLedger) Capture(_ context.Context, key, holdID string) (string, error) {
	return l.step("capture", key, func() (string, error) {
		h := l.holds[holdID]
		if h == nil || h.status != "active" {
			return "", fault.Precondition(fault.HoldNotActive, "hold %s is not active", holdID)
		}
		h.status = "captured"
		id := "capture-" + holdID
		l.captures[id] = holdID
		return id, nil
	})
}

func (l *memLedger) Release(_ context.Context, key, holdID string) error {
	_, err := l.step("release", key, func() (string, error) {
		h := l.holds[holdID]
		if h == nil || h.status != "active" {
			return "", fault.Precondition(fault.HoldNotActive, "hold %s is not active", holdID)
		}
		h.status = "released"
		l.available[h.member] += h.points
		return holdID, nil
	})
	return err
}

func (l *memLedger) RefundInFull(_ context.Context, key, entryID, _ string) (string, error) {
	return l.step("refund", key, func() (string, error) {
		holdID, ok := l.captures[entryID]
		if !ok || l.refunded[entryID] {
			return "", fault.Precondition(fault.EntryFullyReversed, "entry %s cannot be refunded", entryID)
		}
		l.refunded[entryID] = true
		h := l.holds[holdID]
		l.available[h.member] += h.points
		return "refund-" + entryID, nil
	})
}

// burned is the points captured and not refunded, of member m.
func (l *memLedger) burned(m string) int64 {
	var n int64
	for id, holdID := range l.captures {
		if h := l.holds[holdID]; h.member == m && !l.refunded[id] {
			n += h.points
		}
	}
	return n
}

// check asserts every member's points are accounted for: available, held
// and burned sum to what was earned; and no hold is left active.
func (l *memLedger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for m, earned := range l.earned {
		var held int64
		for _, h := range l.holds {
			if h.member == m && h.status == "active" {
				held += h.points
			}
		}
		if got := l.available[m] + held + l.burned(m); got != earned || held != 0 {
			t.Errorf("member %s: available %d + held %d + burned %d, earned %d", m, l.available[m], held, l.burned(m), earned)
		}
	}
}

type fixture struct {
	app    *app.Service
	ledger *memLedger
	clock  *clock
	reward *domain.Reward
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var admin = principal.System("test-admin")

func newFixture(t *testing.T, db *sqldb.DB, cost, stock int64) *fixture {
	t.Helper()
	ctx := context.Background()
	if err := store.Migrate(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	f := &fixture{ledger: newMemLedger(), clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	f.app = app.New(store.New(db), f.ledger, app.Options{Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler), HoldTTL: 5 * time.Minute})
	var err error
	f.reward, err = f.app.CreateReward(ctx, admin, "create", "p1", domain.Terms{
		Name: "Mug", PointsCost: cost, Type: domain.TypeFreeProduct, ProductSKU: "MUG-1",
		VoucherValidity: time.Hour, StockTotal: stock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) redeem(key, member string) (*app.RedeemResult, error) {
	return f.app.Redeem(context.Background(), admin, key, app.RedeemRequest{
		MemberID: member, RewardID: f.reward.ID, Channel: domain.ChannelPOS,
	})
}

func (f *fixture) stockAllocated(t *testing.T) int64 {
	t.Helper()
	r, err := f.app.Reward(context.Background(), admin, f.reward.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r.StockAllocated
}

func isPrecondition(err error) bool {
	e, ok := fault.As(err)
	return ok && e.Kind == fault.KindFailedPrecondition
}

// A ledger refusal (not enough points) refuses the redemption, allocates
// no stock, and is the reply to a retry with the same key even once the
// member has the points; a new key then succeeds.
func TestRedeemRefusedByTheLedger(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 200, 5)
		f.ledger.enrol("m1", "p1", 100)
		if _, err := f.redeem("k1", "m1"); !isPrecondition(err) {
			t.Fatalf("redeem without the points: %v", err)
		}
		if n := f.stockAllocated(t); n != 0 {
			t.Fatalf("stock allocated by a refused redemption: %d", n)
		}
		f.ledger.mu.Lock()
		f.ledger.available["m1"] += 400
		f.ledger.earned["m1"] += 400
		f.ledger.mu.Unlock()
		if _, err := f.redeem("k1", "m1"); !isPrecondition(err) {
			t.Fatalf("retry of a refused redemption: %v, want the refusal replayed", err)
		}
		res, err := f.redeem("k2", "m1")
		if err != nil || res.Voucher.Status != domain.VoucherActive {
			t.Fatalf("redeem with the points: %+v %v", res, err)
		}
		if f.ledger.available["m1"] != 300 {
			t.Fatalf("available after redeeming: %d", f.ledger.available["m1"])
		}
		f.ledger.check(t)
	})
}

// A member of another programme than the reward's is refused before the
// ledger holds anything.
func TestRedeemRefusesAnotherProgrammesMember(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 200, 5)
		f.ledger.enrol("m1", "p2", 500)
		if _, err := f.redeem("k1", "m1"); !isPrecondition(err) {
			t.Fatalf("redeem for another programme's member: %v", err)
		}
		if len(f.ledger.holds) != 0 || f.stockAllocated(t) != 0 {
			t.Fatalf("held %d, allocated %d", len(f.ledger.holds), f.stockAllocated(t))
		}
	})
}

// A ledger that is down when the points are captured leaves the redemption
// unfinished, not failed; a retry with the same key finishes it, burning
// the points and allocating the stock once.
func TestRedeemResumesAfterTheLedgerFails(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 200, 5)
		f.ledger.enrol("m1", "p1", 500)
		f.ledger.fail["capture"] = 1
		if _, err := f.redeem("k1", "m1"); !errors.Is(err, errLedgerDown) {
			t.Fatalf("redeem with the ledger down: %v, want its error", err)
		}
		f.ledger.lose["capture"] = 1 // this time the capture lands, the reply is lost
		if _, err := f.redeem("k1", "m1"); !errors.Is(err, errLedgerDown) {
			t.Fatalf("redeem losing the capture's reply: %v", err)
		}
		res, err := f.redeem("k1", "m1")
		if err != nil || res.Redemption.Status != domain.RedemptionCompleted || res.Voucher.Status != domain.VoucherActive {
			t.Fatalf("retry: %+v %v", res, err)
		}
		again, err := f.redeem("k1", "m1")
		if err != nil || again.Voucher.Code != res.Voucher.Code {
			t.Fatalf("replay: %+v %v", again, err)
		}
		if f.ledger.available["m1"] != 300 || f.ledger.burned("m1") != 200 || f.stockAllocated(t) != 1 {
			t.Fatalf("available %d, burned %d, stock allocated %d", f.ledger.available["m1"], f.ledger.burned("m1"), f.stockAllocated(t))
		}
		f.ledger.check(t)
	})
}

// A redemption abandoned after its capture reached the ledger (the reply
// lost, no retry) is failed by recovery: the capture refunded, the stock
// returned, the member keeps the points.
func TestRecoverRefundsThroughThePort(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 200, 5)
		f.ledger.enrol("m1", "p1", 500)
		f.ledger.lose["capture"] = 1
		if _, err := f.redeem("k1", "m1"); !errors.Is(err, errLedgerDown) {
			t.Fatalf("redeem: %v", err)
		}
		f.clock.Advance(11 * time.Minute)
		if n, err := f.app.Recover(ctx); err != nil || n != 1 {
			t.Fatalf("recover: %d %v", n, err)
		}
		if f.ledger.available["m1"] != 500 || f.stockAllocated(t) != 0 {
			t.Fatalf("after recovery: available %d, stock allocated %d", f.ledger.available["m1"], f.stockAllocated(t))
		}
		if _, err := f.redeem("k1", "m1"); !isPrecondition(err) {
			t.Fatalf("retry of a recovered redemption: %v, want it failed", err)
		}
		f.ledger.check(t)
	})
}

// Concurrent redemptions of a reward with little stock: exactly the stock
// is redeemed, every other redemption is refused and its hold released.
func TestConcurrentRedeemsDoNotOversell(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		const members, stock = 40, 7
		f := newFixture(t, db, 100, stock)
		for i := range members {
			f.ledger.enrol(fmt.Sprintf("m%d", i), "p1", 250)
		}
		var wg sync.WaitGroup
		errs := make([]error, members)
		for i := range members {
			wg.Go(func() {
				_, errs[i] = f.redeem(fmt.Sprintf("k%d", i), fmt.Sprintf("m%d", i))
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !isPrecondition(err):
				t.Errorf("redemption %d: %v", i, err)
			}
		}
		if ok != stock || f.stockAllocated(t) != stock {
			t.Fatalf("%d redeemed, %d allocated, stock %d", ok, f.stockAllocated(t), stock)
		}
		f.ledger.check(t)
	})
}
