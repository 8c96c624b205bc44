package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	accessstore "github.com/fidelis-loyalty/fidelis/services/access/store"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/partners/app"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
	"github.com/fidelis-loyalty/fidelis/services/partners/store"
)

// These tests drive the partners use cases against an in-memory ledger
// behind the app's Ledger port: what the app does when the ledger refuses,
// fails, or loses a reply, without a ledger service.

var errLedgerDown = errors.New("ledger unavailable")

// memLedger is one programme's members and the partner transactions
// posted for them, idempotent per key.
type memLedger struct {
	mu       sync.Mutex
	cards    map[string]string // card → member
	posted   map[string]*domain.Txn
	refuse   map[string]error // member → the ledger's refusal of its posts
	fail     int              // posts to fail before they act
	draining int              // posts to answer Unavailable before they act
	lose     int              // posts to act on, then fail (the reply lost)
	entries  int
}

func newMemLedger() *memLedger {
	return &memLedger{cards: map[string]string{}, posted: map[string]*domain.Txn{}, refuse: map[string]error{}}
}

func (l *memLedger) CheckProgramme(_ context.Context, p string) error {
	if p != "p1" {
		return fault.NotFound(fault.ProgrammeNotFound, "programme %s not found", p)
	}
	return nil
}

func (l *memLedger) FindMember(_ context.Context, _, card string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.cards[card]
	if !ok {
		return "", fault.NotFound(fault.MemberNotFound, "no member with that card")
	}
	return m, nil
}

func (l *memLedger) Available(context.Context, string) (int64, error) { return 0, nil }
func (l *memLedger) Consent(context.Context, string) (bool, error)    { return true, nil }
func (l *memLedger) Tier(context.Context, string) (string, error)     { return "", nil }
func (l *memLedger) Segment(context.Context, string) (string, error)  { return "", nil }

func (l *memLedger) Post(_ context.Context, key string, t *domain.Txn) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail > 0 {
		l.fail--
		return "", errLedgerDown
	}
	if l.draining > 0 {
		l.draining--
		return "", fault.Unavailable(fault.ShuttingDown, "ledger is shutting down")
	}
	if err := l.refuse[t.MemberID]; err != nil {
		return "", err
	}
	if _, ok := l.posted[key]; !ok {
		l.entries++
		l.posted[key] = t
	}
	if l.lose > 0 {
		l.lose--
		return "", errLedgerDown
	}
	return "entry-" + key, nil
}

// bonus is the bonus points posted to the ledger.
func (l *memLedger) bonus() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, t := range l.posted {
		n += t.BonusPoints
	}
	return n
}

type noKeys struct{}

func (noKeys) IssuePartnerKey(context.Context, principal.Principal, string, string, string, time.Duration) (string, string, error) {
	return "key", "secret", nil
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

type fixture struct {
	app     *app.Service
	ledger  *memLedger
	clock   *clock
	partner *domain.Partner
	offer   *domain.Offer
}

var admin = principal.System("test-admin")

// newFixture is a partner earning a point per EUR, with a fixed bonus
// offer of 50 points within a budget, once a day per member.
func newFixture(t *testing.T, db *sqldb.DB, budget int64) *fixture {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	// The partners' migrations move their keys into the access tables.
	if err := accessstore.Migrate(ctx, db, log); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, db, log); err != nil {
		t.Fatal(err)
	}
	f := &fixture{ledger: newMemLedger(), clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	f.app = app.New(store.New(db), f.ledger, noKeys{}, nil, app.Options{Now: f.clock.Now, Logger: log})
	eur := func(s string) money.Money {
		return money.Money{Amount: decimal.RequireFromString(s), Currency: "EUR"}
	}
	made, err := f.app.CreatePartner(ctx, admin, "partner", app.NewPartner{
		Name: "Fuel", ProgrammeID: "p1", EarnUnit: "EUR", EarnRate: decimal.NewFromInt(1), Rounding: money.RoundFloor,
		PricePerPoint: eur("0.01"), ValuePerPoint: eur("0.008"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.partner = made.Partner
	f.offer, err = f.app.CreateOffer(ctx, admin, "offer", f.partner.ID, domain.OfferTerms{
		Name: "Bonus", Kind: domain.OfferFixedBonus, BonusPoints: 50, CapPerMember: 1, CapPeriod: period.Day, BudgetPoints: budget,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// link enrols a member with the ledger and links it at the partner.
func (f *fixture) link(t *testing.T, member string) string {
	t.Helper()
	f.ledger.mu.Lock()
	f.ledger.cards["card-"+member] = member
	f.ledger.mu.Unlock()
	ref, err := f.app.LinkMember(context.Background(), f.partner, "link-"+member, "card-"+member, "")
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (f *fixture) earn(key, ref string) (*domain.Txn, error) {
	return f.app.Earn(context.Background(), f.partner, key, app.EarnRequest{
		MemberRef: ref, Amount: decimal.NewFromInt(20), Unit: "EUR", OfferID: f.offer.ID,
	})
}

func (f *fixture) spent(t *testing.T) int64 {
	t.Helper()
	offers, _, err := f.app.ProgrammeOffers(context.Background(), admin, "p1", "", 0)
	if err != nil || len(offers) != 1 {
		t.Fatalf("offers: %v %v", offers, err)
	}
	return offers[0].SpentPoints
}

func isPrecondition(err error) bool {
	e, ok := fault.As(err)
	return ok && e.Kind == fault.KindFailedPrecondition
}

// An earn the ledger refuses fails, gives back the offer's budget and the
// member's use of it, and is the reply to a retry with its key; the
// member can then have the offer.
func TestEarnRefusedByTheLedgerReturnsTheOffer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 1000)
		ref := f.link(t, "m1")
		f.ledger.refuse["m1"] = fault.Precondition(fault.ReasonFailedPrecondition, "member m1 is closed")
		if _, err := f.earn("k1", ref); !isPrecondition(err) || fault.ReasonOf(err) != fault.PartnerTxnFailed {
			t.Fatalf("earn the ledger refuses with no reason of its own: %v (reason %s), want PARTNER_TXN_FAILED", err, fault.ReasonOf(err))
		}
		if n := f.spent(t); n != 0 {
			t.Fatalf("budget spent by a refused earn: %d", n)
		}
		delete(f.ledger.refuse, "m1")
		if _, err := f.earn("k1", ref); !isPrecondition(err) {
			t.Fatalf("retry of a refused earn: %v, want the refusal replayed", err)
		}
		txn, err := f.earn("k2", ref)
		if err != nil || txn.Status != domain.TxnCompleted || txn.BonusPoints != 50 {
			t.Fatalf("earn: %+v %v", txn, err)
		}
		if f.spent(t) != 50 || f.ledger.bonus() != 50 || f.ledger.entries != 1 {
			t.Fatalf("spent %d, bonus posted %d, entries %d", f.spent(t), f.ledger.bonus(), f.ledger.entries)
		}
	})
}

// A ledger that is down leaves the earn pending; a retry with its key, after
// a failure and after a lost reply, posts it once.
func TestEarnResumesAfterTheLedgerFails(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 1000)
		ref := f.link(t, "m1")
		f.ledger.fail, f.ledger.lose = 1, 1
		for range 2 {
			if _, err := f.earn("k1", ref); !errors.Is(err, errLedgerDown) {
				t.Fatalf("earn with the ledger failing: %v, want its error", err)
			}
		}
		txn, err := f.earn("k1", ref)
		if err != nil || txn.Status != domain.TxnCompleted || txn.Points != 20 || txn.BonusPoints != 50 {
			t.Fatalf("retry: %+v %v", txn, err)
		}
		if f.ledger.entries != 1 || f.spent(t) != 50 {
			t.Fatalf("entries %d, spent %d", f.ledger.entries, f.spent(t))
		}
	})
}

// Recovery posts an earn left pending by a ledger that was down; a retry
// with its key then replays it.
func TestRecoverPostsPendingEarns(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 1000)
		ref := f.link(t, "m1")
		f.ledger.fail = 1
		if _, err := f.earn("k1", ref); !errors.Is(err, errLedgerDown) {
			t.Fatalf("earn: %v", err)
		}
		if n, err := f.app.Recover(ctx); err != nil || n != 0 {
			t.Fatalf("recovered a fresh earn: %d %v", n, err)
		}
		f.clock.Advance(11 * time.Minute)
		if n, err := f.app.Recover(ctx); err != nil || n != 1 {
			t.Fatalf("recover: %d %v", n, err)
		}
		txn, err := f.earn("k1", ref)
		if err != nil || txn.Status != domain.TxnCompleted || f.ledger.entries != 1 {
			t.Fatalf("after recovery: %+v %v, %d entries", txn, err, f.ledger.entries)
		}
	})
}

// Concurrent earns with an offer: the bonus is given exactly as often as
// the budget allows; every other earn is refused and posts nothing.
func TestConcurrentEarnsKeepTheOfferBudget(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		const members, bonuses = 30, 8
		f := newFixture(t, db, 50*bonuses)
		refs := make([]string, members)
		for i := range members {
			refs[i] = f.link(t, fmt.Sprintf("m%d", i))
		}
		var wg sync.WaitGroup
		errs := make([]error, members)
		for i := range members {
			wg.Go(func() { _, errs[i] = f.earn(fmt.Sprintf("k%d", i), refs[i]) })
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !isPrecondition(err):
				t.Errorf("earn %d: %v", i, err)
			}
		}
		if ok != bonuses || f.spent(t) != 50*bonuses || f.ledger.bonus() != 50*bonuses || f.ledger.entries != bonuses {
			t.Fatalf("%d earned, spent %d, bonus posted %d, entries %d", ok, f.spent(t), f.ledger.bonus(), f.ledger.entries)
		}
	})
}
