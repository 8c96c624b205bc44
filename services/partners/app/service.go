// Package app holds the partners service's use cases. It talks to the
// ledger only through the ledger's gRPC clients.
package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// Caller is how the partners service names itself to the ledger.
const Caller = "fidelis-partners"

// Operator is the audit principal of calls made with the operator token.
const Operator = "operator"

// Options tune a Service.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	// Operator checks the operators' token on PartnerAdminService; the zero
	// value lets no operator in.
	Operator domain.OperatorToken
}

// Service is the partners use cases.
type Service struct {
	store    Store
	ledger   ledgerv1.LedgerServiceClient
	status   ledgerv1.StatusServiceClient
	now      func() time.Time
	newID    func() string
	log      *slog.Logger
	operator domain.OperatorToken
}

// New builds a Service.
func New(store Store, ledger ledgerv1.LedgerServiceClient, st ledgerv1.StatusServiceClient, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{store: store, ledger: ledger, status: st, now: o.Now, log: o.Logger, operator: o.Operator,
		newID: func() string { return uuid.Must(uuid.NewV7()).String() }}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Service) toLedger(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-fidelis-caller", Caller)
}

func isRule(err error) bool {
	_, ok := fault.As(err)
	return ok
}

// Authenticate checks a partner's API key.
func (s *Service) Authenticate(ctx context.Context, key string) (*domain.Partner, error) {
	id, secret, ok := domain.ParseAPIKey(key)
	if !ok {
		return nil, fault.Unauthenticated("malformed API key")
	}
	var p *domain.Partner
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		p, err = tx.Partner(ctx, id)
		return err
	}); err != nil {
		return nil, err
	}
	if p == nil || !p.VerifyKey(secret) {
		return nil, fault.Unauthenticated("invalid API key")
	}
	if !p.Active {
		return nil, fault.Denied("partner %s is suspended", p.ID)
	}
	return p, nil
}

// AuthenticateOperator checks the credential of a PartnerAdminService call
// and returns the principal to audit it under. A partner's API key is
// recognised and denied, so that the audit names the partner that tried.
func (s *Service) AuthenticateOperator(ctx context.Context, token string) (string, error) {
	switch {
	case token == "":
		return "", fault.Unauthenticated("missing credentials: send the operator token as authorization: Bearer <token>")
	case s.operator.Verify(token):
		return Operator, nil
	}
	p, err := s.Authenticate(ctx, token)
	if err == nil {
		return p.ID, fault.Denied("partner %s may not call the operators' API", p.ID)
	}
	if f, ok := fault.As(err); ok && f.Kind == fault.KindUnauthenticated {
		return "", fault.Unauthenticated("invalid operator token")
	}
	return "", err
}

// ownProgramme refuses a request that names another programme than the
// partner's.
func ownProgramme(p *domain.Partner, programmeID string) error {
	if programmeID != "" && programmeID != p.ProgrammeID {
		return fault.Denied("partner %s may not act on programme %s", p.ID, programmeID)
	}
	return nil
}

// Audit records a partner call.
func (s *Service) Audit(ctx context.Context, principal, method, decision, code, detail string) error {
	return s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		return tx.InsertAudit(ctx, AuditEntry{ID: s.newID(), At: s.clock(), Principal: principal, Method: method,
			Decision: decision, Code: code, Detail: detail})
	})
}

// AuditLog pages through the audit log, newest first.
func (s *Service) AuditLog(ctx context.Context, principal, beforeID string, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []AuditEntry
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		out, err = tx.Audit(ctx, principal, beforeID, limit)
		return err
	})
	return out, err
}

// idempotent runs a request that lives in one database transaction: the
// same key and request replay the stored reply; a different request under
// the key is refused; a refusal writes nothing and is not stored.
func idempotent[R any](ctx context.Context, s *Service, method string, k idem.Key, req any,
	run func(ctx context.Context, tx Tx) (R, error)) (R, error) {
	var zero R
	hash, err := idem.Hash(method, req)
	if err != nil {
		return zero, err
	}
	var out R
	var outErr error
	for attempt := 1; ; attempt++ {
		err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			rec, err := tx.Idem(ctx, k)
			if err != nil {
				return err
			}
			if rec != nil {
				if outErr = rec.Matches(method, hash); outErr == nil {
					out, outErr = idem.DecodeReply[R](rec.Response)
				}
				return nil
			}
			out, outErr = run(ctx, tx)
			if outErr != nil {
				if isRule(outErr) {
					return errRefused
				}
				return outErr
			}
			resp, err := idem.EncodeReply(out, nil)
			if err != nil {
				return err
			}
			return tx.PutIdem(ctx, idem.Record{Key: k, Method: method, Hash: hash, Response: resp, CreatedAt: s.clock()})
		})
		if !errors.Is(err, ErrConflict) || attempt == 5 {
			break
		}
	}
	if errors.Is(err, errRefused) {
		return zero, outErr
	}
	if err != nil {
		return zero, err
	}
	return out, outErr
}

var errRefused = errors.New("refused")

// NewPartner is a partner to register.
type NewPartner struct {
	Name          string
	ProgrammeID   string
	EarnUnit      string
	EarnRate      decimal.Decimal
	Rounding      domain.Rounding
	PricePerPoint domain.Money
	ValuePerPoint domain.Money
}

// CreatedPartner is a registered partner and its API key, shown once.
type CreatedPartner struct {
	Partner *domain.Partner
	APIKey  string
}

// CreatePartner registers a partner. A retry with the same key replays the
// registration, API key included: keep idempotency keys of this call secret.
func (s *Service) CreatePartner(ctx context.Context, caller, key string, np NewPartner) (*CreatedPartner, error) {
	if _, err := s.ledger.GetProgramme(s.toLedger(ctx), &ledgerv1.GetProgrammeRequest{ProgrammeId: np.ProgrammeID}); err != nil {
		return nil, grpcserver.Remote("ledger", err)
	}
	p := &domain.Partner{
		ID: s.newID(), Name: np.Name, ProgrammeID: np.ProgrammeID, EarnUnit: np.EarnUnit, EarnRate: np.EarnRate,
		Rounding: np.Rounding, PricePerPoint: np.PricePerPoint, ValuePerPoint: np.ValuePerPoint, Active: true,
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	apiKey, hash, err := domain.NewAPIKey(p.ID)
	if err != nil {
		return nil, err
	}
	if p.Salt, err = domain.NewSalt(); err != nil {
		return nil, err
	}
	p.KeyHash = hash
	return idempotent(ctx, s, "CreatePartner", idem.Key{Caller: caller, Key: key}, np,
		func(ctx context.Context, tx Tx) (*CreatedPartner, error) {
			p.CreatedAt = s.clock()
			return &CreatedPartner{Partner: p, APIKey: apiKey}, tx.InsertPartner(ctx, p)
		})
}

// RotateKey replaces a partner's API key.
func (s *Service) RotateKey(ctx context.Context, caller, key, partnerID string) (string, error) {
	apiKey, hash, err := domain.NewAPIKey(partnerID)
	if err != nil {
		return "", err
	}
	return idempotent(ctx, s, "RotateKey", idem.Key{Caller: caller, Key: key}, partnerID,
		func(ctx context.Context, tx Tx) (string, error) {
			p, err := tx.Partner(ctx, partnerID)
			if err != nil {
				return "", err
			}
			if p == nil {
				return "", fault.NotFound("partner %s not found", partnerID)
			}
			return apiKey, tx.SetPartnerKey(ctx, partnerID, hash)
		})
}

// Partner returns a partner.
func (s *Service) Partner(ctx context.Context, id string) (*domain.Partner, error) {
	var p *domain.Partner
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if p, err = tx.Partner(ctx, id); err == nil && p == nil {
			err = fault.NotFound("partner %s not found", id)
		}
		return err
	})
	return p, err
}

// ProgrammeOffers returns the offers of every partner of a programme.
func (s *Service) ProgrammeOffers(ctx context.Context, programmeID string) ([]*domain.Offer, error) {
	var offers []*domain.Offer
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		offers, err = tx.ProgrammeOffers(ctx, programmeID)
		return err
	})
	return offers, err
}

// CreateOffer adds an offer at a partner.
func (s *Service) CreateOffer(ctx context.Context, caller, key, partnerID string, t domain.OfferTerms) (*domain.Offer, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	id := s.newID()
	type req struct {
		PartnerID string
		Terms     domain.OfferTerms
	}
	return idempotent(ctx, s, "CreateOffer", idem.Key{Caller: caller, Key: key}, req{partnerID, t},
		func(ctx context.Context, tx Tx) (*domain.Offer, error) {
			p, err := tx.Partner(ctx, partnerID)
			if err != nil {
				return nil, err
			}
			if p == nil {
				return nil, fault.NotFound("partner %s not found", partnerID)
			}
			o := &domain.Offer{ID: id, PartnerID: partnerID, OfferTerms: t, CreatedAt: s.clock()}
			return o, tx.InsertOffer(ctx, o)
		})
}

// LinkMember links a member of the partner's programme, found by card
// number, and returns the member's reference for the partner.
func (s *Service) LinkMember(ctx context.Context, p *domain.Partner, key, card, programmeID string) (string, error) {
	if err := ownProgramme(p, programmeID); err != nil {
		return "", err
	}
	m, err := s.ledger.FindMember(s.toLedger(ctx), &ledgerv1.FindMemberRequest{ProgrammeId: p.ProgrammeID, ExternalRef: card})
	if err != nil {
		return "", grpcserver.Remote("ledger", err)
	}
	memberID := m.GetMember().GetMemberId()
	ref := p.MemberRef(memberID)
	return idempotent(ctx, s, "LinkMember", idem.Key{Caller: p.ID, Key: key}, card,
		func(ctx context.Context, tx Tx) (string, error) {
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
				err = fault.Denied("member reference %s is not the partner's", ref)
			}
			return err
		}
		return fault.NotFound("member reference %s not found: link the member first", ref)
	})
	return id, err
}

// MemberBalance returns a linked member's available points.
func (s *Service) MemberBalance(ctx context.Context, p *domain.Partner, ref string) (int64, error) {
	m, err := s.member(ctx, p, ref)
	if err != nil {
		return 0, err
	}
	b, err := s.ledger.GetBalance(s.toLedger(ctx), &ledgerv1.GetBalanceRequest{MemberId: m})
	if err != nil {
		return 0, grpcserver.Remote("ledger", err)
	}
	return b.GetBalance().GetAvailable(), nil
}

// target reads from the ledger what offer targeting needs.
func (s *Service) target(ctx context.Context, memberID string) (domain.Target, error) {
	var t domain.Target
	lctx := s.toLedger(ctx)
	m, err := s.ledger.GetMember(lctx, &ledgerv1.GetMemberRequest{MemberId: memberID})
	if err != nil {
		return t, grpcserver.Remote("ledger", err)
	}
	if t.Consent = m.GetMember().GetPartnerMarketingConsent(); !t.Consent {
		return t, nil // targeting data stays with the programme
	}
	ts, err := s.status.GetTierStatus(lctx, &ledgerv1.GetTierStatusRequest{MemberId: memberID})
	switch {
	case status.Code(err) == codes.FailedPrecondition: // the programme has no tiers
	case err != nil:
		return t, grpcserver.Remote("ledger", err)
	default:
		t.Tier = ts.GetTier()
	}
	seg, err := s.status.GetSegment(lctx, &ledgerv1.GetSegmentRequest{MemberId: memberID})
	if err != nil {
		return t, grpcserver.Remote("ledger", err)
	}
	t.Segment = seg.GetSegment()
	return t, nil
}

// Offers returns the partner's offers a member is eligible for now; none
// for a member who did not consent to partner marketing.
func (s *Service) Offers(ctx context.Context, p *domain.Partner, ref string) ([]*domain.Offer, bool, error) {
	m, err := s.member(ctx, p, ref)
	if err != nil {
		return nil, false, err
	}
	t, err := s.target(ctx, m)
	if err != nil || !t.Consent {
		return nil, false, err
	}
	now := s.clock()
	var out []*domain.Offer
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		offers, err := tx.Offers(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, o := range offers {
			u, err := tx.Usage(ctx, o, m, domain.PeriodKey(o.CapPeriod, now))
			if err != nil {
				return err
			}
			bonus := int64(1)
			if o.Kind == domain.OfferFixedBonus {
				bonus = o.BonusPoints
			}
			if o.Check(t, u, bonus, now) == nil {
				out = append(out, o)
			}
		}
		return nil
	})
	return out, true, err
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

// PartnerStatement is StatementOf for an operator, by partner id; a
// partner asking for another's statement is denied.
func (s *Service) PartnerStatement(ctx context.Context, caller *domain.Partner, partnerID string, from, to time.Time) (*domain.Statement, error) {
	if caller != nil && partnerID != "" && partnerID != caller.ID {
		return nil, fault.Denied("partner %s may not read the statement of partner %s", caller.ID, partnerID)
	}
	p := caller
	if p == nil {
		var err error
		if p, err = s.Partner(ctx, partnerID); err != nil {
			return nil, err
		}
	}
	return s.StatementOf(ctx, p, from, to)
}
