package grpcapi

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
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

func tierToProto(t *status.TierStatus) *ledgerv1.GetTierStatusResponse {
	st, o, levels := t.Status, t.Outlook, t.Policy.Levels
	level, _ := t.Policy.Level(st.Tier)
	r := &ledgerv1.GetTierStatusResponse{
		MemberId: st.MemberID, Tier: levels[level].ID, Since: ts(st.TierSince), ValidUntil: ts(st.TierValidUntil),
		Basis: t.Policy.Basis, QualifyingAmount: o.Qualifying.String(), GapToNext: o.Gap.String(),
		AmountToKeep: o.ToKeep.String(), FloorTier: st.TierFloor, Multiplier: levels[level].Multiplier.String(),
	}
	if o.Next >= 0 {
		r.NextTier = levels[o.Next].ID
	}
	for _, h := range t.History {
		r.History = append(r.History, &ledgerv1.TierTransition{FromTier: h.From, ToTier: h.To, At: ts(h.At), Cause: h.Cause})
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

func (s *StatusServer) GetSegment(ctx context.Context, r *ledgerv1.GetSegmentRequest) (*ledgerv1.GetSegmentResponse, error) {
	seg, err := s.app.Segment(ctx, principal.Of(ctx), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	st := seg.Status
	resp := &ledgerv1.GetSegmentResponse{
		MemberId: r.GetMemberId(), Recency: int32(st.R), Frequency: int32(st.F), Monetary: int32(st.M),
		Segment: st.Segment, Since: ts(st.SegmentSince),
	}
	for _, h := range seg.History {
		resp.History = append(resp.History, &ledgerv1.SegmentTransition{FromSegment: h.From, ToSegment: h.To, At: ts(h.At), Cause: h.Cause})
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

const cursorPrefix = "pos:"

func encodeCursor(pos int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(pos, 10)))
}

func decodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil && strings.HasPrefix(string(raw), cursorPrefix) {
		if pos, err := strconv.ParseInt(strings.TrimPrefix(string(raw), cursorPrefix), 10, 64); err == nil && pos >= 0 {
			return pos, nil
		}
	}
	return 0, fault.Invalid("cursor", "is not a cursor from this stream")
}

func (s *StatusServer) WatchEvents(r *ledgerv1.WatchEventsRequest, stream grpc.ServerStreamingServer[ledgerv1.WatchEventsResponse]) error {
	ctx := stream.Context()
	after, err := decodeCursor(r.GetCursor())
	if err != nil {
		return err
	}
	f := status.EventFilter{ProgrammeID: r.GetProgrammeId(), MemberID: r.GetMemberId()}
	for _, t := range r.GetTypes() {
		for name, v := range eventTypes {
			if v == t {
				f.Types = append(f.Types, name)
			}
		}
	}
	for {
		appended := s.app.EventsAppended() // before reading: no append is missed
		events, err := s.app.Events(ctx, principal.Of(ctx), after, f, 500)
		if err != nil {
			return err
		}
		for _, e := range events {
			after = e.Position
			if err := stream.Send(&ledgerv1.WatchEventsResponse{Event: &ledgerv1.MemberEvent{
				EventId: e.EventID, Cursor: encodeCursor(e.Position), MemberId: e.MemberID, ProgrammeId: e.ProgrammeID,
				Type: eventTypes[e.Type], At: ts(e.At), EntryId: e.EntryID, Points: e.Points, From: e.From, To: e.To,
				Detail: e.Detail,
			}}); err != nil {
				return err
			}
		}
		if len(events) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.app.Draining():
			return fault.Unavailable(fault.ShuttingDown, "the server is shutting down: resume from the last cursor")
		case <-appended:
		case <-time.After(s.poll):
		}
	}
}
