package grpcapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// StatusServer implements fidelis.ledger.v1.StatusService.
type StatusServer struct {
	ledgerv1.UnimplementedStatusServiceServer
	app *status.Service
	// poll is how often an idle event stream looks for new events besides
	// being woken when this process appends some.
	poll time.Duration
}

// StatusServiceName is the status service's fully qualified name.
const StatusServiceName = "fidelis.ledger.v1.StatusService"

// RegisterStatus adds the status service to a gRPC server.
func RegisterStatus(s grpc.ServiceRegistrar, a *status.Service) {
	ledgerv1.RegisterStatusServiceServer(s, &StatusServer{app: a, poll: time.Second})
}

var tierBases = map[string]ledgerv1.TierBasis{
	domain.TierBasisStatusPoints: ledgerv1.TierBasis_TIER_BASIS_STATUS_POINTS,
	domain.TierBasisSpend:        ledgerv1.TierBasis_TIER_BASIS_QUALIFYING_SPEND,
}

var tierCauses = map[string]ledgerv1.TierTransitionCause{
	domain.CauseQualified: ledgerv1.TierTransitionCause_TIER_TRANSITION_CAUSE_QUALIFIED,
	domain.CauseExpired:   ledgerv1.TierTransitionCause_TIER_TRANSITION_CAUSE_VALIDITY_ENDED,
	domain.CauseManual:    ledgerv1.TierTransitionCause_TIER_TRANSITION_CAUSE_MANUAL,
}

// tierAmount is an amount on the programme's tier basis: status points, or
// spend in its currency.
func tierAmount(basis, currency string, d decimal.Decimal) *ledgerv1.TierAmount {
	if basis == domain.TierBasisSpend {
		return &ledgerv1.TierAmount{Amount: &ledgerv1.TierAmount_Spend{Spend: &typev1.Money{Amount: d.String(), CurrencyCode: currency}}}
	}
	return &ledgerv1.TierAmount{Amount: &ledgerv1.TierAmount_StatusPoints{StatusPoints: d.String()}}
}

func tierToProto(t *status.TierStatus) *ledgerv1.GetTierStatusResponse {
	st, o, levels := t.Status, t.Outlook, t.Policy.Levels
	level, _ := t.Policy.Level(st.Tier)
	amount := func(d decimal.Decimal) *ledgerv1.TierAmount { return tierAmount(t.Policy.Basis, t.Currency, d) }
	r := &ledgerv1.GetTierStatusResponse{
		MemberId: st.MemberID, Tier: levels[level].ID, Since: ts(st.TierSince), ValidUntil: ts(st.TierValidUntil),
		Basis: tierBases[t.Policy.Basis], QualifyingAmount: amount(o.Qualifying), GapToNext: amount(o.Gap),
		AmountToKeep: amount(o.ToKeep), FloorTier: st.TierFloor, Multiplier: levels[level].Multiplier.String(),
	}
	if o.Next >= 0 {
		r.NextTier = levels[o.Next].ID
	}
	return r
}

func (s *StatusServer) GetTierStatus(ctx context.Context, r *ledgerv1.GetTierStatusRequest) (*ledgerv1.GetTierStatusResponse, error) {
	t, err := s.app.Tier(ctx, principal.Of(ctx), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	return tierToProto(t), nil
}

func (s *StatusServer) ListTierTransitions(ctx context.Context, r *ledgerv1.ListTierTransitionsRequest) (*ledgerv1.ListTierTransitionsResponse, error) {
	res, err := s.app.Transitions(ctx, principal.Of(ctx), r.GetMemberId(), domain.TransitionTier, int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &ledgerv1.ListTierTransitionsResponse{NextPageToken: res.NextToken}
	for _, h := range res.Transitions {
		resp.Transitions = append(resp.Transitions, &ledgerv1.TierTransition{FromTier: h.From, ToTier: h.To, At: ts(h.At), Cause: tierCauses[h.Cause]})
	}
	return resp, nil
}

func (s *StatusServer) GetSegment(ctx context.Context, r *ledgerv1.GetSegmentRequest) (*ledgerv1.GetSegmentResponse, error) {
	st, err := s.app.Segment(ctx, principal.Of(ctx), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.GetSegmentResponse{
		MemberId: r.GetMemberId(), Recency: int32(st.R), Frequency: int32(st.F), Monetary: int32(st.M),
		Segment: st.Segment, Since: ts(st.SegmentSince),
	}, nil
}

func (s *StatusServer) ListSegmentTransitions(ctx context.Context, r *ledgerv1.ListSegmentTransitionsRequest) (*ledgerv1.ListSegmentTransitionsResponse, error) {
	res, err := s.app.Transitions(ctx, principal.Of(ctx), r.GetMemberId(), domain.TransitionSegment, int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &ledgerv1.ListSegmentTransitionsResponse{NextPageToken: res.NextToken}
	for _, h := range res.Transitions {
		resp.Transitions = append(resp.Transitions, &ledgerv1.SegmentTransition{
			FromSegment: h.From, ToSegment: h.To, At: ts(h.At), RunId: strings.TrimPrefix(h.Cause, domain.SegmentCausePrefix),
		})
	}
	return resp, nil
}

var eventTypes = map[string]ledgerv1.MemberEventType{
	domain.EventEarned:         ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_EARNED,
	domain.EventBurned:         ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_BURNED,
	domain.EventReversed:       ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_REVERSED,
	domain.EventExpired:        ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_EXPIRED,
	domain.EventAdjusted:       ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_ADJUSTED,
	domain.EventPointsExpiring: ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_POINTS_EXPIRING,
	domain.EventTierUp:         ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_TIER_UP,
	domain.EventTierDown:       ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_TIER_DOWN,
	domain.EventSegmentChanged: ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_SEGMENT_CHANGED,
	domain.EventInactive:       ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_INACTIVE,
	domain.EventBirthday:       ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_BIRTHDAY,
}

// cursorPrefix starts every cursor's text, before base64: the layout's
// version.
const cursorPrefix = "c1:"

// encodeCursor is a cursor's opaque text: its epoch and position.
func encodeCursor(c status.Cursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%d:%d", cursorPrefix, c.Epoch, c.Position))
}

func decodeCursor(text string) (status.Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(raw), cursorPrefix); ok {
			epoch, pos, ok := strings.Cut(rest, ":")
			e, err1 := strconv.ParseInt(epoch, 10, 64)
			p, err2 := strconv.ParseInt(pos, 10, 64)
			if ok && err1 == nil && err2 == nil && e > 0 && p >= 0 {
				return status.Cursor{Epoch: e, Position: p}, nil
			}
		}
	}
	return status.Cursor{}, fault.Invalid("cursor", "is not a cursor of this stream")
}

// Event stream tuning.
const (
	// eventPage bounds the events one read takes.
	eventPage = 500
	// defaultCheckpoint is the longest silence before a checkpoint when
	// the request sets none.
	defaultCheckpoint = 30 * time.Second
)

func eventToProto(c status.Cursor, e status.StreamEvent) *ledgerv1.MemberEvent {
	c.Position = e.Position
	return &ledgerv1.MemberEvent{
		EventId: e.EventID, Cursor: encodeCursor(c), MemberId: e.MemberID, ProgrammeId: e.ProgrammeID,
		Type: eventTypes[e.Type], At: ts(e.At), EntryId: e.EntryID, Points: e.Points, FromState: e.From, ToState: e.To,
		Detail: e.Detail, RecordedTime: ts(e.RecordedAt),
	}
}

func (s *StatusServer) WatchEvents(r *ledgerv1.WatchEventsRequest, stream grpc.ServerStreamingServer[ledgerv1.WatchEventsResponse]) error {
	ctx := stream.Context()
	var start status.EventStart
	switch st := r.GetStart().(type) {
	case *ledgerv1.WatchEventsRequest_Cursor:
		c, err := decodeCursor(st.Cursor)
		if err != nil {
			return err
		}
		start = status.EventStart{Kind: status.StartCursor, Cursor: c}
	case *ledgerv1.WatchEventsRequest_StartTime:
		start = status.EventStart{Kind: status.StartTime, Time: st.StartTime.AsTime()}
	}
	f := status.EventFilter{ProgrammeID: r.GetProgrammeId(), MemberID: r.GetMemberId()}
	for _, t := range r.GetTypes() {
		for name, v := range eventTypes {
			if v == t {
				f.Types = append(f.Types, name)
			}
		}
	}
	cur, f, err := s.app.OpenEvents(ctx, principal.Of(ctx), start, f)
	if err != nil {
		return err
	}
	every := defaultCheckpoint
	if d := r.GetCheckpointInterval(); d != nil {
		every = d.AsDuration()
	}
	var last time.Time // when the last message was sent
	checkpoint := func() error {
		last = time.Now()
		return stream.Send(&ledgerv1.WatchEventsResponse{Kind: &ledgerv1.WatchEventsResponse_Checkpoint{
			Checkpoint: &ledgerv1.Checkpoint{Cursor: encodeCursor(cur)},
		}})
	}
	if err := checkpoint(); err != nil {
		return err
	}
	for {
		appended := s.app.EventsAppended() // before reading: no append is missed
		page, err := s.app.Events(ctx, cur, f, eventPage)
		if err != nil {
			return err
		}
		for _, e := range page.Events {
			if err := stream.Send(&ledgerv1.WatchEventsResponse{Kind: &ledgerv1.WatchEventsResponse_Event{
				Event: eventToProto(page.Next, e),
			}}); err != nil {
				return err
			}
			last = time.Now()
		}
		cur = page.Next
		if len(page.Events) == eventPage {
			continue
		}
		if time.Since(last) >= every {
			if err := checkpoint(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.app.Draining():
			return fault.Unavailable(fault.ShuttingDown, "the server is shutting down: resume from the last cursor")
		case <-appended:
		case <-time.After(min(s.poll, every-time.Since(last))):
		}
	}
}
