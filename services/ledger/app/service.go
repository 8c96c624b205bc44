// Package app holds the ledger's use cases. It owns the Store interface,
// runs every mutation through a per-member shard that group-commits
// concurrent requests, and keeps idempotency per principal and key. Every
// use case takes the authenticated principal: a member of a programme the
// principal is not bound to is PermissionDenied, checked where the member
// is loaded, in the operation's own transaction.
package app

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"

	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Options tune a Service.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Shards is the number of write transactions that may run at once
	// (default 1: see services/host for the per-engine choice).
	Shards int
	// MaxBatch bounds the requests committed in one transaction (default 64).
	MaxBatch int
	// TxTimeout bounds one write transaction (default 30s).
	TxTimeout time.Duration
	Logger    *slog.Logger
}

// Service is the ledger's use cases.
type Service struct {
	store     Store
	cfg       *domain.Config
	now       func() time.Time
	newID     func() string
	log       *slog.Logger
	maxBatch  int
	txTimeout time.Duration

	mu     sync.RWMutex
	closed bool
	shards []chan *op
	wg     sync.WaitGroup

	// committed wakes the projector after a ledger commit.
	committed chan struct{}
	stream    *streamSignal
	// draining is closed when the server starts to shut down.
	draining  chan struct{}
	drainOnce sync.Once
}

// New starts a Service; Close stops it.
func New(store Store, cfg *domain.Config, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.TxTimeout <= 0 {
		o.TxTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{
		store: store, cfg: cfg, now: o.Now, log: o.Logger, maxBatch: o.MaxBatch, txTimeout: o.TxTimeout,
		newID:     func() string { return uuid.Must(uuid.NewV7()).String() },
		committed: make(chan struct{}, 1),
		stream:    newStreamSignal(),
		draining:  make(chan struct{}),
	}
	for range o.Shards {
		ch := make(chan *op, 4*o.MaxBatch)
		s.shards = append(s.shards, ch)
		s.wg.Add(1)
		go s.worker(ch)
	}
	return s
}

// Close stops taking requests and waits for the queued ones to commit.
// Drain tells long-lived calls (event streams) that the server is shutting
// down, so that they end and a graceful stop need not wait for their
// clients. Unary calls carry on until Close.
func (s *Service) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// Draining is closed once Drain is called.
func (s *Service) Draining() <-chan struct{} { return s.draining }

func (s *Service) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, ch := range s.shards {
			close(ch)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Programme returns a programme's configuration.
func (s *Service) Programme(id string) (*domain.Programme, error) {
	p, ok := s.cfg.Programme(id)
	if !ok {
		return nil, fault.NotFound("programme %q not found", id)
	}
	return p, nil
}

// Balance is a member's balances as of a time.
type Balance struct {
	MemberID        string
	Available       int64
	Pending         int64
	Held            int64
	LifetimeEarned  int64
	LifetimeBurned  int64
	Expiring        []domain.Scheduled
	PendingSchedule []domain.Scheduled
	AsOf            time.Time
}

// balanceOf reports a Book's balances; the expiry and pending schedules come
// with GetBalance only, which loads the lots.
func balanceOf(b *domain.Book, now time.Time) Balance {
	m := b.Member
	return Balance{
		MemberID: m.ID, Available: m.Available, Pending: m.Pending, Held: m.Held,
		LifetimeEarned: m.LifetimeEarned, LifetimeBurned: m.LifetimeBurned, AsOf: now,
	}
}

func fullBalanceOf(b *domain.Book, now time.Time) *Balance {
	v := balanceOf(b, now)
	v.Expiring, v.PendingSchedule = b.ExpirySchedule(), b.PendingSchedule()
	return &v
}

// EntryResult is the reply to a mutation that wrote one entry.
type EntryResult struct {
	Entry   *domain.Entry
	Balance Balance
}

// HoldResult is the reply to Hold, Capture and Release.
type HoldResult struct {
	Hold  *domain.Hold
	Entry *domain.Entry
	// Release is the release of a partial capture's remainder.
	Release *domain.Entry
	Balance Balance
}

// Enrolment is a request to enrol a member.
type Enrolment struct {
	ProgrammeID    string
	MemberID       string
	ExternalRef    string
	BirthDate      string
	PartnerConsent bool
	EnrolledAt     time.Time
}

// Enrol opens a member's accounts.
func (s *Service) Enrol(ctx context.Context, who principal.Principal, key string, r Enrolment) (*domain.Member, error) {
	if err := who.CheckProgramme(r.ProgrammeID); err != nil {
		return nil, err
	}
	r.EnrolledAt = truncate(r.EnrolledAt)
	id := r.MemberID
	if id == "" {
		id = s.newID()
	}
	return submit(ctx, s, call{method: "Enrol", who: who, key: key, req: r, member: id}, func(ctx context.Context, u *uow) (*domain.Member, error) {
		prog, ok := s.cfg.Programme(r.ProgrammeID)
		if !ok {
			return nil, fault.NotFound("programme %q not found", r.ProgrammeID)
		}
		if _, exists := u.books[id]; exists {
			return nil, fault.Exists("member %s already exists", id)
		}
		other, taken := u.refs[r.ProgrammeID+"\x00"+r.ExternalRef]
		if !taken {
			var err error
			if other, taken, err = u.tx.MemberIDByRef(ctx, r.ProgrammeID, r.ExternalRef); err != nil {
				return nil, err
			}
		}
		if taken {
			return nil, fault.Exists("external ref %q is already enrolled as member %s", r.ExternalRef, other)
		}
		enrolled := r.EnrolledAt
		if enrolled.IsZero() {
			enrolled = u.now
		}
		if enrolled.After(u.now.Add(5 * time.Minute)) {
			return nil, fault.Invalid("enrolled_at", "is in the future")
		}
		m := domain.Member{
			ID: id, ProgrammeID: r.ProgrammeID, ExternalRef: r.ExternalRef, BirthDate: r.BirthDate,
			PartnerConsent: r.PartnerConsent, EnrolledAt: enrolled, UpdatedAt: u.now,
		}
		b := domain.NewBook(m, prog, s.newID)
		b.LoadLots(nil, nil) // a new member has none
		b.New = true
		u.create(b)
		return &m, nil
	})
}

type memberCmd[C any] struct {
	MemberID string
	Cmd      C
}

// Earn credits points.
func (s *Service) Earn(ctx context.Context, who principal.Principal, key, memberID string, c domain.EarnCmd) (*EntryResult, error) {
	c.OccurredAt = truncate(c.OccurredAt)
	needLots := false
	return submit(ctx, s, call{method: "Earn", who: who, key: key, req: memberCmd[domain.EarnCmd]{memberID, c}, member: memberID, needLots: needLots},
		func(ctx context.Context, u *uow) (*EntryResult, error) {
			return u.entryOp(ctx, who, memberID, needLots, func(b *domain.Book) (*domain.Entry, error) { return b.Earn(c, u.now) })
		})
}

// Burn spends points.
func (s *Service) Burn(ctx context.Context, who principal.Principal, key, memberID string, c domain.BurnCmd) (*EntryResult, error) {
	needLots := true
	return submit(ctx, s, call{method: "Burn", who: who, key: key, req: memberCmd[domain.BurnCmd]{memberID, c}, member: memberID, needLots: needLots},
		func(ctx context.Context, u *uow) (*EntryResult, error) {
			return u.entryOp(ctx, who, memberID, needLots, func(b *domain.Book) (*domain.Entry, error) { return b.Burn(c, u.now) })
		})
}

// Adjust credits or debits points by hand.
func (s *Service) Adjust(ctx context.Context, who principal.Principal, key, memberID string, c domain.AdjustCmd) (*EntryResult, error) {
	needLots := c.Points < 0
	return submit(ctx, s, call{method: "Adjust", who: who, key: key, req: memberCmd[domain.AdjustCmd]{memberID, c}, member: memberID, needLots: needLots},
		func(ctx context.Context, u *uow) (*EntryResult, error) {
			return u.entryOp(ctx, who, memberID, needLots, func(b *domain.Book) (*domain.Entry, error) { return b.Adjust(c, u.now) })
		})
}

func (u *uow) entryOp(ctx context.Context, who principal.Principal, memberID string, needLots bool, f func(*domain.Book) (*domain.Entry, error)) (*EntryResult, error) {
	b, err := u.member(ctx, who, memberID, needLots)
	if err != nil {
		return nil, err
	}
	e, err := f(b)
	if err != nil {
		return nil, err
	}
	if err := u.settle(ctx, b); err != nil {
		return nil, err
	}
	return &EntryResult{Entry: e, Balance: balanceOf(b, u.now)}, nil
}

// Hold reserves points.
func (s *Service) Hold(ctx context.Context, who principal.Principal, key, memberID string, c domain.HoldCmd) (*HoldResult, error) {
	return submit(ctx, s, call{method: "Hold", who: who, key: key, req: memberCmd[domain.HoldCmd]{memberID, c}, member: memberID, needLots: true},
		func(ctx context.Context, u *uow) (*HoldResult, error) {
			b, err := u.member(ctx, who, memberID, true)
			if err != nil {
				return nil, err
			}
			h, e, err := b.Hold(c, u.now)
			if err != nil {
				return nil, err
			}
			return &HoldResult{Hold: h, Entry: e, Balance: balanceOf(b, u.now)}, nil
		})
}

type holdCmd struct {
	HoldID string
	Points int64
}

// Capture burns all (points == 0) or part of a hold and releases the rest.
func (s *Service) Capture(ctx context.Context, who principal.Principal, key, holdID string, points int64) (*HoldResult, error) {
	return s.holdOp(ctx, "Capture", who, key, holdCmd{holdID, points}, func(b *domain.Book, now time.Time) (*HoldResult, error) {
		h, e, rel, err := b.Capture(holdID, points, now)
		if err != nil {
			return nil, err
		}
		return &HoldResult{Hold: h, Entry: e, Release: rel}, nil
	})
}

// Release returns a hold's points.
func (s *Service) Release(ctx context.Context, who principal.Principal, key, holdID string) (*HoldResult, error) {
	return s.holdOp(ctx, "Release", who, key, holdCmd{HoldID: holdID}, func(b *domain.Book, now time.Time) (*HoldResult, error) {
		h, e, err := b.Release(holdID, now)
		if err != nil {
			return nil, err
		}
		return &HoldResult{Hold: h, Entry: e}, nil
	})
}

func (s *Service) holdOp(ctx context.Context, method string, who principal.Principal, key string, c holdCmd,
	f func(*domain.Book, time.Time) (*HoldResult, error)) (*HoldResult, error) {
	var member string
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		h, ok, err := tx.Hold(ctx, c.HoldID)
		if err != nil {
			return err
		}
		if !ok {
			return fault.NotFound("hold %s not found", c.HoldID)
		}
		member = h.MemberID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return submit(ctx, s, call{method: method, who: who, key: key, req: c, member: member, needLots: true}, func(ctx context.Context, u *uow) (*HoldResult, error) {
		b, err := u.member(ctx, who, member, true)
		if err != nil {
			return nil, err
		}
		if _, loaded := b.Holds[c.HoldID]; !loaded {
			h, _, err := u.tx.Hold(ctx, c.HoldID)
			if err != nil {
				return nil, err
			}
			b.AddHold(h)
		}
		r, err := f(b, u.now)
		if err != nil {
			return nil, err
		}
		if err := u.settle(ctx, b); err != nil {
			return nil, err
		}
		r.Balance = balanceOf(b, u.now)
		return r, nil
	})
}

// Reversal is a request to reverse an entry.
type Reversal struct {
	EntryID string
	Portion domain.Portion
	Reason  string
	Channel domain.Channel
	StoreID string
}

// Reverse claws back an earn or refunds a burn or capture.
func (s *Service) Reverse(ctx context.Context, who principal.Principal, key string, r Reversal) (*EntryResult, error) {
	var member string
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		e, ok, err := tx.Entry(ctx, r.EntryID)
		if err != nil {
			return err
		}
		if !ok {
			return fault.NotFound("entry %s not found", r.EntryID)
		}
		member = e.MemberID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return submit(ctx, s, call{method: "Reverse", who: who, key: key, req: r, member: member, needLots: true}, func(ctx context.Context, u *uow) (*EntryResult, error) {
		return u.entryOp(ctx, who, member, true, func(b *domain.Book) (*domain.Entry, error) {
			c, err := u.reversal(ctx, b, r)
			if err != nil {
				return nil, err
			}
			return b.Reverse(c, u.now)
		})
	})
}

// reversal loads what reversing an entry needs into its member's Book.
func (u *uow) reversal(ctx context.Context, b *domain.Book, r Reversal) (domain.ReverseCmd, error) {
	c := domain.ReverseCmd{Portion: r.Portion, Reason: r.Reason, Channel: r.Channel, StoreID: r.StoreID}
	orig, _, err := u.tx.Entry(ctx, r.EntryID)
	if err != nil {
		return c, err
	}
	c.Original = orig
	switch orig.Kind {
	case domain.EntryEarn:
		if c.Prior, err = u.tx.Clawbacks(ctx, orig.ID); err != nil {
			return c, err
		}
		lots, err := u.tx.LotsBySource(ctx, orig.ID)
		if err != nil {
			return c, err
		}
		b.AddLots(lots)
	case domain.EntryBurn, domain.EntryCapture:
		origin := orig.ID
		if orig.Kind == domain.EntryCapture {
			h, ok := b.Holds[orig.HoldID]
			if !ok {
				if h, _, err = u.tx.Hold(ctx, orig.HoldID); err != nil {
					return c, err
				}
				b.AddHold(h)
			}
			origin = h.EntryID
		}
		if !b.HasOrigin(origin) {
			if err := u.loadOrigins(ctx, map[string]*domain.Book{origin: b}); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// ExpiryRun counts what RunExpiry did.
type ExpiryRun struct {
	Members int64
	domain.SettleResult
}

// RunExpiry settles, as of asOf, every member with something due: expired
// holds, ended return windows, expired lots. It is safe to run repeatedly.
func (s *Service) RunExpiry(ctx context.Context, asOf time.Time, programmeID string) (ExpiryRun, error) {
	var run ExpiryRun
	now := s.clock()
	if asOf.IsZero() {
		asOf = now
	}
	asOf = truncate(asOf)
	if asOf.After(now) {
		return run, fault.Invalid("as_of", "is in the future")
	}
	if programmeID != "" {
		if _, ok := s.cfg.Programme(programmeID); !ok {
			return run, fault.NotFound("programme %q not found", programmeID)
		}
	}
	after := ""
	for {
		var ids []string
		err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
			var err error
			ids, err = tx.DueMembers(ctx, programmeID, asOf, after, 512)
			return err
		})
		if err != nil {
			return run, err
		}
		if len(ids) == 0 {
			return run, nil
		}
		results := make([]domain.SettleResult, len(ids))
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				results[i], errs[i] = submit(ctx, s, call{method: "Settle", member: id, needLots: true},
					func(ctx context.Context, u *uow) (domain.SettleResult, error) {
						b, err := u.touch(ctx, id)
						if err != nil {
							return domain.SettleResult{}, err
						}
						if !b.LotsLoaded {
							if err := u.loadLots(ctx, []*domain.Book{b}); err != nil {
								return domain.SettleResult{}, err
							}
						}
						return b.Settle(asOf, u.now), nil
					})
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil {
				return run, errs[i]
			}
			r := results[i]
			run.Members++
			run.HoldsExpired += r.HoldsExpired
			run.PendingReleased += r.PendingReleased
			run.LotsExpired += r.LotsExpired
			run.PointsExpired += r.PointsExpired
		}
		after = ids[len(ids)-1]
	}
}

// Balance returns a member's balances and schedules now, settling first
// what is due.
func (s *Service) Balance(ctx context.Context, who principal.Principal, memberID string) (*Balance, error) {
	var bal *Balance
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		u := s.newUOW(tx, s.clock())
		if err := u.load(ctx, []string{memberID}, false); err != nil {
			return err
		}
		b, ok := u.books[memberID]
		if !ok {
			return fault.NotFound("member %s not found", memberID)
		}
		if err := who.CheckProgramme(b.Member.ProgrammeID); err != nil {
			return err
		}
		if !b.Member.Due(u.now) {
			if err := u.loadLots(ctx, []*domain.Book{b}); err != nil {
				return err
			}
			bal = fullBalanceOf(b, u.now)
		}
		return nil
	})
	if err != nil || bal != nil {
		return bal, err
	}
	return submit(ctx, s, call{method: "Settle", member: memberID, needLots: true}, func(ctx context.Context, u *uow) (*Balance, error) {
		b, err := u.member(ctx, who, memberID, true)
		if err != nil {
			return nil, err
		}
		return fullBalanceOf(b, u.now), nil
	})
}

// Member returns a member.
func (s *Service) Member(ctx context.Context, who principal.Principal, memberID string) (*domain.Member, error) {
	var m *domain.Member
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		m, err = memberOf(ctx, tx, who, memberID)
		return err
	})
	return m, err
}

// memberOf reads a member the principal may see.
func memberOf(ctx context.Context, tx Tx, who principal.Principal, memberID string) (*domain.Member, error) {
	ms, err := tx.Members(ctx, []string{memberID}, false)
	if err != nil {
		return nil, err
	}
	m := ms[memberID]
	if m == nil {
		return nil, fault.NotFound("member %s not found", memberID)
	}
	return m, who.CheckProgramme(m.ProgrammeID)
}

// FindMember finds a member of a programme by external ref.
func (s *Service) FindMember(ctx context.Context, who principal.Principal, programmeID, ref string) (*domain.Member, error) {
	if err := who.CheckProgramme(programmeID); err != nil {
		return nil, err
	}
	var id string
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var ok bool
		var err error
		if id, ok, err = tx.MemberIDByRef(ctx, programmeID, ref); err == nil && !ok {
			err = fault.NotFound("no member of programme %q has external ref %q", programmeID, ref)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Member(ctx, who, id)
}

// Entries pages through a member's entries, oldest first.
func (s *Service) Entries(ctx context.Context, who principal.Principal, memberID string, pageSize int, pageToken string) ([]*domain.Entry, string, error) {
	if pageSize <= 0 {
		pageSize = 50
	}
	after, err := decodePageToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	var entries []*domain.Entry
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := memberOf(ctx, tx, who, memberID); err != nil {
			return err
		}
		entries, err = tx.Entries(ctx, memberID, after, pageSize+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(entries) > pageSize {
		entries = entries[:pageSize]
		next = encodePageToken(entries[pageSize-1].Seq)
	}
	return entries, next, nil
}

const pageTokenPrefix = "seq:"

func encodePageToken(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.FormatInt(seq, 10)))
}

func decodePageToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && strings.HasPrefix(string(raw), pageTokenPrefix) {
		if seq, err := strconv.ParseInt(strings.TrimPrefix(string(raw), pageTokenPrefix), 10, 64); err == nil && seq >= 0 {
			return seq, nil
		}
	}
	return 0, fault.Invalid("page_token", "is not a token from a previous page")
}

func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
