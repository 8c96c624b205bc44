// Package app holds the partners service's use cases. It reaches other
// services through ports: Ledger (the ledger, which binds partner calls to
// the partner's programme and account), Keys (partners' API keys) and
// AuditLog (the audit of their calls), the last two the access service's.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// Keys gives a partner company an API key (see the access service's
// IssuePartnerKey): once per requestKey, the secret in the first reply
// only; the partner's older keys stop after overlap.
type Keys interface {
	IssuePartnerKey(ctx context.Context, by principal.Principal, requestKey, partnerID, programmeID string,
		overlap time.Duration) (keyID, secret string, err error)
}

// AuditLog reads the audit log of partner calls.
type AuditLog interface {
	// PartnerAudit pages through the audit of one partner's calls (empty:
	// of every call of the partner services), newest first.
	PartnerAudit(ctx context.Context, partnerID, pageToken string, size int) ([]AuditEntry, string, error)
}

// AuditEntry is audited calls: of one principal to one method with one
// outcome, in the second At starts.
type AuditEntry struct {
	ID        string
	At        time.Time
	Principal string
	Method    string
	Decision  string
	Code      string
	Calls     int64
}

// Options tune a Service.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the partners use cases.
type Service struct {
	store  Store
	ledger Ledger
	keys   Keys
	audit  AuditLog
	now    func() time.Time
	newID  func() string
	log    *slog.Logger
	flow   idem.Flow[Tx]
}

// New builds a Service.
func New(store Store, ledger Ledger, keys Keys, audit AuditLog, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{store: store, ledger: ledger, keys: keys, audit: audit, now: o.Now, log: o.Logger,
		newID: func() string { return uuid.Must(uuid.NewV7()).String() }}
	s.flow = idem.Flow[Tx]{Store: store, Conflict: ErrConflict, Now: s.clock}
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// isRule tells whether err is a rule broken here or at the ledger: a
// fault, but not one that says a service is unavailable or a caller
// unauthenticated, which refuse nothing.
func isRule(err error) bool {
	f, ok := fault.As(err)
	return ok && f.Kind != fault.KindUnavailable && f.Kind != fault.KindUnauthenticated
}

// idempotent runs a request that lives in one database transaction, once
// per key of its principal (see idem.Run): check first, outside the
// transaction, while the key is free (nil: no check). Its reply, or its
// business refusal, is replayed to every retry with the key.
func idempotent[R any](ctx context.Context, s *Service, by, key string, req idem.Request,
	check func(ctx context.Context) error, run func(ctx context.Context, tx Tx) (R, error)) (R, error) {
	return idem.Run(ctx, s.flow, idem.Key{Caller: by, Key: key}, req, check, run)
}

// KeyRetention is how long the partners service keeps its idempotency
// keys (idem.Retention: it grants no holds; its recovery window is
// idem.RecoveryWindow).
func KeyRetention() time.Duration { return idem.Retention(0) }

// PurgeKeys deletes the idempotency records older than KeyRetention and
// returns how many.
func (s *Service) PurgeKeys(ctx context.Context) (int, error) {
	return s.store.PurgeIdem(ctx, s.clock().Add(-KeyRetention()))
}

// RunKeyPurge purges old idempotency records every interval until ctx
// ends. Every replica may run it: the purge is safe to run concurrently.
func (s *Service) RunKeyPurge(ctx context.Context, every time.Duration) {
	idem.RunPurge(ctx, every, s.log, "partners_idempotency", s.PurgeKeys)
}

// PartnerOf is the partner a partner principal is: a suspended partner,
// or a principal that is none, is denied.
func (s *Service) PartnerOf(ctx context.Context, who principal.Principal) (*domain.Partner, error) {
	if !who.Has(principal.Partner) || who.PartnerID == "" {
		return nil, fault.Denied(fault.NotAPartner, "principal %s is not a partner", who.Actor())
	}
	var p *domain.Partner
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		p, err = tx.Partner(ctx, who.PartnerID)
		return err
	}); err != nil {
		return nil, err
	}
	switch {
	case p == nil:
		return nil, fault.Denied(fault.PartnerNotFound, "partner %s does not exist", who.PartnerID)
	case !p.Active:
		return nil, fault.Denied(fault.PartnerSuspended, "partner %s is suspended", p.ID)
	}
	return p, nil
}

// ownProgramme refuses a request that names another programme than the
// partner's.
func ownProgramme(p *domain.Partner, programmeID string) error {
	if programmeID != "" && programmeID != p.ProgrammeID {
		return fault.Denied(fault.ProgrammeNotAllowed, "partner %s may not act on programme %s", p.ID, programmeID)
	}
	return nil
}

// Audit pages through the audit of a partner's calls (of every partner
// call when partnerID is empty), newest first. Its page tokens are bound
// to partnerID: a token of one partner's audit does not continue
// another's (INVALID_ARGUMENT on page_token).
func (s *Service) Audit(ctx context.Context, partnerID, pageToken string, size int) ([]AuditEntry, string, error) {
	scope := paging.Scope(listAudit, partnerID)
	pos, err := paging.Position(scope, pageToken)
	if err != nil {
		return nil, "", err
	}
	entries, next, err := s.audit.PartnerAudit(ctx, partnerID, pos, paging.Size(size, DefaultPageSize, MaxPageSize))
	if err != nil || next == "" {
		return entries, "", err
	}
	return entries, paging.Token(scope, next), nil
}

// NewPartner is a partner to register.
type NewPartner struct {
	Name          string
	ProgrammeID   string
	EarnUnit      string
	EarnRate      decimal.Decimal
	Rounding      money.Rounding
	PricePerPoint money.Money
	ValuePerPoint money.Money
}

// PartnerKey is a partner's API key: Secret, the key to send, is in the
// reply that made it only (a replay has the key's id, not the secret).
type PartnerKey struct {
	KeyID  string
	Secret string `json:"-"`
}

// CreatedPartner is a registered partner and its API key.
type CreatedPartner struct {
	Partner *domain.Partner
	Key     PartnerKey
}

// CreatePartner registers a partner and gives it an API key. A retry with
// the same key replays the registration without the key's secret (it is
// never stored); if the first reply was lost, rotate the key.
func (s *Service) CreatePartner(ctx context.Context, who principal.Principal, key string, np NewPartner) (*CreatedPartner, error) {
	p := &domain.Partner{
		ID: s.newID(), Name: np.Name, ProgrammeID: np.ProgrammeID, EarnUnit: np.EarnUnit, EarnRate: np.EarnRate,
		Rounding: np.Rounding, PricePerPoint: np.PricePerPoint, ValuePerPoint: np.ValuePerPoint, Active: true,
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var err error
	if p.Salt, err = domain.NewSalt(); err != nil {
		return nil, err
	}
	req, err := createPartnerRequest(np)
	if err != nil {
		return nil, err
	}
	made, err := idempotent(ctx, s, who.ID, key, req,
		func(ctx context.Context) error {
			if err := who.CheckProgramme(np.ProgrammeID); err != nil {
				return err
			}
			return s.ledger.CheckProgramme(ctx, np.ProgrammeID)
		},
		func(ctx context.Context, tx Tx) (*domain.Partner, error) {
			p.CreatedAt = s.clock()
			return p, tx.InsertPartner(ctx, p)
		})
	if err != nil {
		return nil, err
	}
	// Its own step, once per request key too: a retry after a crash
	// between the two makes the key then.
	k, err := s.issueKey(ctx, who, "create/"+key, made, 0)
	if err != nil {
		return nil, err
	}
	return &CreatedPartner{Partner: made, Key: k}, nil
}

func (s *Service) issueKey(ctx context.Context, who principal.Principal, requestKey string, p *domain.Partner, overlap time.Duration) (PartnerKey, error) {
	id, secret, err := s.keys.IssuePartnerKey(ctx, who, requestKey, p.ID, p.ProgrammeID, overlap)
	return PartnerKey{KeyID: id, Secret: secret}, err
}

// RotateKey gives a partner a new API key; its older keys keep working
// for overlap (0: they stop at once).
func (s *Service) RotateKey(ctx context.Context, who principal.Principal, key, partnerID string, overlap time.Duration) (PartnerKey, error) {
	p, err := s.Partner(ctx, who, partnerID)
	if err != nil {
		return PartnerKey{}, err
	}
	return s.issueKey(ctx, who, "rotate/"+key, p, overlap)
}

// Partner returns a partner of a programme who is bound to.
func (s *Service) Partner(ctx context.Context, who principal.Principal, id string) (*domain.Partner, error) {
	var p *domain.Partner
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if p, err = tx.Partner(ctx, id); err == nil && p == nil {
			err = fault.NotFound(fault.PartnerNotFound, "partner %s not found", id)
		}
		if err == nil {
			err = who.CheckProgramme(p.ProgrammeID)
		}
		return err
	})
	return p, err
}

// ProgrammeOffers pages through the offers of every partner of a
// programme, oldest first, and returns the next page's token ("" after
// the last page).
func (s *Service) ProgrammeOffers(ctx context.Context, who principal.Principal, programmeID, pageToken string, size int) ([]*domain.Offer, string, error) {
	if err := who.CheckProgramme(programmeID); err != nil {
		return nil, "", err
	}
	scope := paging.Scope(listProgrammeOffers, programmeID)
	after, err := offerPosition(scope, pageToken)
	if err != nil {
		return nil, "", err
	}
	size = paging.Size(size, DefaultPageSize, MaxPageSize)
	var offers []*domain.Offer
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		offers, err = tx.ProgrammeOffers(ctx, programmeID, after, size+1)
		return err
	})
	if err != nil || len(offers) <= size {
		return offers, "", err
	}
	return offers[:size], paging.Token(scope, offerPos(offers[size-1])), nil
}

// CreateOffer adds an offer at a partner.
func (s *Service) CreateOffer(ctx context.Context, who principal.Principal, key, partnerID string, t domain.OfferTerms) (*domain.Offer, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	req, err := createOfferRequest(partnerID, t)
	if err != nil {
		return nil, err
	}
	id := s.newID()
	return idempotent(ctx, s, who.ID, key, req,
		func(ctx context.Context) error {
			_, err := s.Partner(ctx, who, partnerID)
			return err
		},
		func(ctx context.Context, tx Tx) (*domain.Offer, error) {
			p, err := tx.Partner(ctx, partnerID)
			if err != nil {
				return nil, err
			}
			if p == nil {
				return nil, fault.NotFound(fault.PartnerNotFound, "partner %s not found", partnerID)
			}
			o := &domain.Offer{ID: id, PartnerID: partnerID, OfferTerms: t, CreatedAt: s.clock()}
			return o, tx.InsertOffer(ctx, o)
		})
}

// LinkMember links a member of the partner's programme, found by card
// number, and returns the member's reference for the partner.
func (s *Service) LinkMember(ctx context.Context, p *domain.Partner, key, card, programmeID string) (string, error) {
	req, err := linkMemberRequest(card)
	if err != nil {
		return "", err
	}
	var memberID string
	return idempotent(ctx, s, p.ID, key, req,
		func(ctx context.Context) error {
			if err := ownProgramme(p, programmeID); err != nil {
				return err
			}
			id, err := s.ledger.FindMember(ctx, p.ProgrammeID, card)
			memberID = id
			return err
		},
		func(ctx context.Context, tx Tx) (string, error) {
			ref := p.MemberRef(memberID)
			return ref, tx.InsertLink(ctx, p.ID, ref, memberID, s.clock())
		})
}

// member resolves a partner's member reference: a reference of another
// partner is denied, an unknown one not found.
func (s *Service) member(ctx context.Context, p *domain.Partner, ref string) (string, error) {
	var id string
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var ok bool
		var err error
		if id, ok, err = tx.Link(ctx, p.ID, ref); err != nil || ok {
			return err
		}
		if _, other, err := tx.LinkOwner(ctx, ref); err != nil || other {
			if err == nil {
				err = fault.Denied(fault.OtherPartners, "member reference %s is not the partner's", ref)
			}
			return err
		}
		return fault.NotFound(fault.MemberNotLinked, "member reference %s not found: link the member first", ref)
	})
	return id, err
}

// MemberBalance returns a linked member's available points.
func (s *Service) MemberBalance(ctx context.Context, p *domain.Partner, ref string) (int64, error) {
	m, err := s.member(ctx, p, ref)
	if err != nil {
		return 0, err
	}
	return s.ledger.Available(ctx, m)
}

// target reads from the ledger what offer targeting needs.
func (s *Service) target(ctx context.Context, memberID string) (domain.Target, error) {
	var t domain.Target
	var err error
	if t.Consent, err = s.ledger.Consent(ctx, memberID); err != nil || !t.Consent {
		return t, err // without consent, targeting data stays with the programme
	}
	if t.Tier, err = s.ledger.Tier(ctx, memberID); err != nil {
		return t, err
	}
	t.Segment, err = s.ledger.Segment(ctx, memberID)
	return t, err
}

// OfferPage is a page of the offers a member is eligible for.
type OfferPage struct {
	Offers []*domain.Offer
	// Consent is false for a member who did not consent to partner
	// marketing (who has no offers).
	Consent bool
	// Next is the next page's token, "" after the last page.
	Next string
}

// Offers pages through the partner's offers a member is eligible for now,
// oldest first; none for a member who did not consent to partner
// marketing. Page tokens are bound to the partner and the member.
func (s *Service) Offers(ctx context.Context, p *domain.Partner, ref, pageToken string, size int) (*OfferPage, error) {
	scope := paging.Scope(listOffers, p.ID, ref)
	after, err := offerPosition(scope, pageToken)
	if err != nil {
		return nil, err
	}
	size = paging.Size(size, DefaultPageSize, MaxPageSize)
	m, err := s.member(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	t, err := s.target(ctx, m)
	if err != nil || !t.Consent {
		return &OfferPage{}, err
	}
	now := s.clock()
	var out []*domain.Offer
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		// Read on until a page and one more offer are eligible, or
		// every offer is read.
		for len(out) <= size {
			offers, err := tx.Offers(ctx, p.ID, after, size+1)
			if err != nil {
				return err
			}
			for _, o := range offers {
				after = OfferPosition{CreatedAt: o.CreatedAt, ID: o.ID}
				u, err := tx.Usage(ctx, o, m, o.CapPeriod.Key(now))
				if err != nil {
					return err
				}
				bonus := int64(1)
				if o.Kind == domain.OfferFixedBonus {
					bonus = o.BonusPoints
				}
				if o.Check(t, u, bonus, now) == nil {
					if out = append(out, o); len(out) > size {
						break
					}
				}
			}
			if len(offers) <= size {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	page := &OfferPage{Offers: out, Consent: true}
	if len(out) > size {
		page.Offers, page.Next = out[:size], paging.Token(scope, offerPos(out[size-1]))
	}
	return page, nil
}

// StatementOf returns a partner's settlement for the transactions posted
// in [from, to): a period that has ended never changes, however far back a
// later transaction says it occurred.
func (s *Service) StatementOf(ctx context.Context, p *domain.Partner, from, to time.Time) (*domain.Statement, error) {
	if !from.Before(to) {
		return nil, fault.Invalid("period_end", "must be after period_start")
	}
	var st *domain.Statement
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		st, err = tx.Statement(ctx, p.ID, from, to)
		return err
	})
	if st != nil {
		st.Currency = p.PricePerPoint.Currency
	}
	return st, err
}

// PartnerStatement is StatementOf for an operator, by partner id.
func (s *Service) PartnerStatement(ctx context.Context, who principal.Principal, partnerID string, from, to time.Time) (*domain.Statement, error) {
	p, err := s.Partner(ctx, who, partnerID)
	if err != nil {
		return nil, err
	}
	return s.StatementOf(ctx, p, from, to)
}
