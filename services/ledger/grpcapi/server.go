// Package grpcapi is the ledger's gRPC edge: it turns requests into app
// calls and app errors into gRPC statuses.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/members"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Server implements fidelis.ledger.v1.LedgerService.
type Server struct {
	ledgerv1.UnimplementedLedgerServiceServer
	ledger    *posting.Service
	analytics *analytics.Service
	vault     *members.Service
}

// Register adds the ledger service to a gRPC server: the write path, and
// the anonymous sales stores report for the analytics.
// Members are enrolled and found through the vault v, which keeps their
// personal data.
func Register(s grpc.ServiceRegistrar, p *posting.Service, a *analytics.Service, v *members.Service) {
	ledgerv1.RegisterLedgerServiceServer(s, &Server{ledger: p, analytics: a, vault: v})
}

// ServiceName is the ledger's fully qualified gRPC service name.
const ServiceName = "fidelis.ledger.v1.LedgerService"

func (s *Server) EnrolMember(ctx context.Context, r *ledgerv1.EnrolMemberRequest) (*ledgerv1.EnrolMemberResponse, error) {
	m, err := s.vault.Enrol(ctx, principal.Of(ctx), r.GetIdempotencyKey(), posting.Enrolment{
		ProgrammeID: r.GetProgrammeId(), MemberID: r.GetMemberId(), ExternalRef: r.GetExternalRef(),
		BirthDate:      dateFromProto(r.GetBirthDate()),
		PartnerConsent: r.GetPartnerMarketingConsent() == ledgerv1.ConsentState_CONSENT_STATE_GRANTED, EnrolledAt: fromTS(r.GetEnrolledAt()),
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.EnrolMemberResponse{Member: memberToProto(m)}, nil
}

func (s *Server) GetMember(ctx context.Context, r *ledgerv1.GetMemberRequest) (*ledgerv1.GetMemberResponse, error) {
	m, err := s.revealed(ctx, r.GetMemberId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.GetMemberResponse{Member: memberToProto(m)}, nil
}

// FindMember finds a member by a current card, through the vault: a
// replaced card no longer finds it, an erased member is found by none.
func (s *Server) FindMember(ctx context.Context, r *ledgerv1.FindMemberRequest) (*ledgerv1.FindMemberResponse, error) {
	found, err := s.vault.FindMember(ctx, principal.Of(ctx), r.GetProgrammeId(), members.KindCard, r.GetExternalRef())
	if err != nil {
		return nil, err
	}
	m, err := s.revealed(ctx, found.ID)
	if err != nil {
		return nil, err
	}
	return &ledgerv1.FindMemberResponse{Member: memberToProto(m)}, nil
}

// revealed is a member whose external ref and birth date, pseudonyms in
// the ledger, are read from the vault: its first current card and its
// birth date (both empty once it is erased).
func (s *Server) revealed(ctx context.Context, id string) (*domain.Member, error) {
	who := principal.Of(ctx)
	m, err := s.ledger.Member(ctx, who, id)
	if err != nil {
		return nil, err
	}
	p, err := s.vault.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	out := *m
	out.ExternalRef, out.BirthDate = p.Card(), p.Profile.BirthDate
	return &out, nil
}

func (s *Server) Earn(ctx context.Context, r *ledgerv1.EarnRequest) (*ledgerv1.EarnResponse, error) {
	purchase, err := moneyFromProto(r.GetPurchase(), "purchase")
	if err != nil {
		return nil, err
	}
	res, err := s.ledger.Earn(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetMemberId(), domain.EarnCmd{
		Purchase: purchase, Points: r.GetPoints(), Channel: channels[r.GetChannel()], StoreID: r.GetStoreId(),
		OrderRef: r.GetOrderRef(), Reason: r.GetReason(), OccurredAt: fromTS(r.GetOccurredAt()), PartnerID: r.GetPartnerId(),
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.EarnResponse{Entry: entryToProto(res.Entry), Balance: balanceToProto(res.Balance)}, nil
}

func (s *Server) Burn(ctx context.Context, r *ledgerv1.BurnRequest) (*ledgerv1.BurnResponse, error) {
	res, err := s.ledger.Burn(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetMemberId(), domain.BurnCmd{
		Points: r.GetPoints(), Channel: channels[r.GetChannel()], StoreID: r.GetStoreId(), OrderRef: r.GetOrderRef(),
		Reason: r.GetReason(), PartnerID: r.GetPartnerId(),
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.BurnResponse{Entry: entryToProto(res.Entry), Balance: balanceToProto(res.Balance)}, nil
}

func (s *Server) Hold(ctx context.Context, r *ledgerv1.HoldRequest) (*ledgerv1.HoldResponse, error) {
	res, err := s.ledger.Hold(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetMemberId(), domain.HoldCmd{
		Points: r.GetPoints(), TTL: r.GetTtl().AsDuration(), Reference: r.GetReference(), Channel: channels[r.GetChannel()],
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.HoldResponse{Hold: holdToProto(res.Hold), Entry: entryToProto(res.Entry), Balance: balanceToProto(res.Balance)}, nil
}

func (s *Server) Capture(ctx context.Context, r *ledgerv1.CaptureRequest) (*ledgerv1.CaptureResponse, error) {
	res, err := s.ledger.Capture(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetHoldId(), r.GetPoints())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.CaptureResponse{
		Hold: holdToProto(res.Hold), Entry: entryToProto(res.Entry), ReleaseEntry: entryToProto(res.Release),
		Balance: balanceToProto(res.Balance),
	}, nil
}

func (s *Server) Release(ctx context.Context, r *ledgerv1.ReleaseRequest) (*ledgerv1.ReleaseResponse, error) {
	res, err := s.ledger.Release(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetHoldId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.ReleaseResponse{Hold: holdToProto(res.Hold), Entry: entryToProto(res.Entry), Balance: balanceToProto(res.Balance)}, nil
}

func (s *Server) Reverse(ctx context.Context, r *ledgerv1.ReverseRequest) (*ledgerv1.ReverseResponse, error) {
	returned, err := moneyFromProto(r.GetReturned(), "returned")
	if err != nil {
		return nil, err
	}
	res, err := s.ledger.Reverse(ctx, principal.Of(ctx), r.GetIdempotencyKey(), posting.Reversal{
		EntryID: r.GetEntryId(), Portion: domain.Portion{Returned: returned, Points: r.GetPoints(), Full: r.GetFull()},
		Reason: r.GetReason(), Channel: channels[r.GetChannel()], StoreID: r.GetStoreId(),
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.ReverseResponse{
		Entry: entryToProto(res.Entry), Balance: balanceToProto(res.Balance), UncollectedPoints: res.Entry.Uncollected,
	}, nil
}

func (s *Server) GetBalance(ctx context.Context, r *ledgerv1.GetBalanceRequest) (*ledgerv1.GetBalanceResponse, error) {
	b, err := s.ledger.Balance(ctx, principal.Of(ctx), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.GetBalanceResponse{Balance: balanceToProto(*b)}, nil
}

func (s *Server) ListEntries(ctx context.Context, r *ledgerv1.ListEntriesRequest) (*ledgerv1.ListEntriesResponse, error) {
	entries, next, err := s.ledger.Entries(ctx, principal.Of(ctx), r.GetMemberId(), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &ledgerv1.ListEntriesResponse{NextPageToken: next}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, entryToProto(e))
	}
	return resp, nil
}

func (s *Server) GetHold(ctx context.Context, r *ledgerv1.GetHoldRequest) (*ledgerv1.GetHoldResponse, error) {
	h, err := s.ledger.GetHold(ctx, principal.Of(ctx), r.GetHoldId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.GetHoldResponse{Hold: holdToProto(h)}, nil
}

func (s *Server) ListHolds(ctx context.Context, r *ledgerv1.ListHoldsRequest) (*ledgerv1.ListHoldsResponse, error) {
	holds, next, err := s.ledger.Holds(ctx, principal.Of(ctx), r.GetMemberId(), holdStatusFromProto(r.GetStatus()), int(r.GetPageSize()),
		r.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &ledgerv1.ListHoldsResponse{NextPageToken: next}
	for _, h := range holds {
		resp.Holds = append(resp.Holds, holdToProto(h))
	}
	return resp, nil
}

func (s *Server) GetProgramme(ctx context.Context, r *ledgerv1.GetProgrammeRequest) (*ledgerv1.GetProgrammeResponse, error) {
	p, err := s.ledger.Programme(r.GetProgrammeId())
	if err != nil {
		return nil, err
	}
	resp := &ledgerv1.GetProgrammeResponse{
		ProgrammeId: p.ID, Name: p.Name, CurrencyCode: p.Currency, ConfigVersion: p.Version, EarningRates: map[string]string{},
	}
	for cur, rate := range p.Earning.Rates {
		resp.EarningRates[cur] = rate.String()
	}
	if p.Tiers != nil {
		for _, l := range p.Tiers.Levels {
			resp.Tiers = append(resp.Tiers, &ledgerv1.Tier{TierId: l.ID, Threshold: l.Threshold.String(), Multiplier: l.Multiplier.String()})
		}
	}
	return resp, nil
}

func (s *Server) ReportAnonymousSales(ctx context.Context, r *ledgerv1.ReportAnonymousSalesRequest) (*ledgerv1.ReportAnonymousSalesResponse, error) {
	stored, err := s.analytics.ReportAnonymousSales(ctx, analytics.AnonymousSales{
		ProgrammeID: r.GetProgrammeId(), StoreID: r.GetStoreId(), BusinessDay: dateFromProto(r.GetBusinessDay()),
		Transactions: r.GetTransactions(), CountedAt: fromTS(r.GetCountedAt()),
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.ReportAnonymousSalesResponse{Transactions: stored.Transactions, CountedAt: ts(stored.CountedAt)}, nil
}
