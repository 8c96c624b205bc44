package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/operations"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// AdminServiceName is the ledger administration service's fully qualified
// name; OperationsServiceName the long-running operations service's.
const (
	AdminServiceName      = "fidelis.ledger.v1.LedgerAdminService"
	OperationsServiceName = "google.longrunning.Operations"
)

// Admin is what the administration service works with.
type Admin struct {
	Posting    *posting.Service
	Status     *status.Service
	Analytics  *analytics.Service
	Operations *operations.Service
	Config     *domain.Config
	// Now is the ledger's clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// check is the checks a start makes at once (see operations.Start.Check):
// the programme, if named, exists; a time, if given, is not in the future.
func (a Admin) check(programmeID, timeField string, at time.Time) func(context.Context) error {
	return func(context.Context) error {
		if programmeID != "" {
			if _, ok := a.Config.Programme(programmeID); !ok {
				return fault.NotFound(fault.ProgrammeNotFound, "programme %q not found", programmeID).About("fidelis.ledger.v1.Programme", programmeID)
			}
		}
		if timeField != "" && at.After(a.Now()) {
			return fault.Invalid(timeField, "is in the future")
		}
		return nil
	}
}

// AdminServer implements fidelis.ledger.v1.LedgerAdminService.
type AdminServer struct {
	ledgerv1.UnimplementedLedgerAdminServiceServer
	a Admin
}

// OperationsServer implements google.longrunning.Operations over the
// ledger's stored operations.
type OperationsServer struct {
	longrunningpb.UnimplementedOperationsServer
	a Admin
}

// RegisterAdmin adds the administration service and the operations
// service to a gRPC server.
func RegisterAdmin(s grpc.ServiceRegistrar, a Admin) {
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	ledgerv1.RegisterLedgerAdminServiceServer(s, &AdminServer{a: a})
	longrunningpb.RegisterOperationsServer(s, &OperationsServer{a: a})
}

func (s *AdminServer) Adjust(ctx context.Context, r *ledgerv1.AdjustRequest) (*ledgerv1.AdjustResponse, error) {
	who := principal.Of(ctx)
	res, err := s.a.Posting.Adjust(ctx, who, r.GetIdempotencyKey(), r.GetMemberId(), domain.AdjustCmd{
		Points: r.GetPoints(), Reason: r.GetReason(), Operator: who.Actor(),
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.AdjustResponse{Entry: entryToProto(res.Entry), Balance: balanceToProto(res.Balance)}, nil
}

func (s *AdminServer) SetTierFloor(ctx context.Context, r *ledgerv1.SetTierFloorRequest) (*ledgerv1.SetTierFloorResponse, error) {
	who := principal.Of(ctx)
	e, err := s.a.Status.SetTierFloor(ctx, who, r.GetIdempotencyKey(), r.GetMemberId(), r.GetTier(), r.GetReason())
	if err != nil {
		return nil, err
	}
	t, err := s.a.Status.Tier(ctx, who, r.GetMemberId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.SetTierFloorResponse{Entry: entryToProto(e.Entry), Status: tierToProto(t)}, nil
}

// The forms the starts of operations are hashed in (see idem.NewRequest):
// a retry with the key must ask for the same work.
type (
	expiryForm struct {
		AsOf        *time.Time `json:"as_of,omitempty"`
		ProgrammeID string     `json:"programme_id"`
	}
	asOfForm struct {
		AsOf *time.Time `json:"as_of,omitempty"`
	}
	programmeAsOfForm struct {
		ProgrammeID string     `json:"programme_id"`
		AsOf        *time.Time `json:"as_of,omitempty"`
	}
	rebuildForm struct{}
	fitForm     struct {
		ProgrammeID    string    `json:"programme_id"`
		CalibrationEnd time.Time `json:"calibration_end"`
	}
)

// optTime is a request's optional time, for a form: nil when unset.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// start starts an operation running work, whose response it encodes.
func start[R proto.Message](ctx context.Context, s *AdminServer, method, key, programmeID string, form any, check func(context.Context) error,
	work func(ctx context.Context) (R, error)) (*longrunningpb.Operation, error) {
	who := principal.Of(ctx)
	full := "/" + AdminServiceName + "/" + method
	log := s.a.Logger
	op, err := s.a.Operations.Start(ctx, operations.Start{Method: method, Who: who, Key: key, ProgrammeID: programmeID, Form: form, Check: check},
		func(ctx context.Context) operations.Outcome {
			// The work runs as its caller would (its programmes), without
			// the caller's deadline.
			ctx = principal.NewContext(ctx, who)
			res, err := work(ctx)
			if err == nil {
				var b []byte
				a, merr := anypb.New(res)
				if merr == nil {
					b, merr = proto.Marshal(a)
				}
				if merr == nil {
					return operations.Outcome{Bytes: b}
				}
				err = merr
			}
			cancelled := errors.Is(context.Cause(ctx), operations.ErrCancelled)
			switch {
			case cancelled:
				err = context.Canceled
			case ctx.Err() != nil:
				err = fault.Unavailable(fault.ShuttingDown, "the server running the operation shut down before it finished: start it again with a new idempotency key")
			}
			b, merr := proto.Marshal(errorStatus(ctx, log, full, err))
			if merr != nil {
				log.Error("operation error not encoded", slog.Any("error", merr))
			}
			return operations.Outcome{Failed: true, Cancelled: cancelled, Bytes: b}
		})
	if err != nil {
		return nil, err
	}
	return operationToProto(context.WithoutCancel(ctx), log, op)
}

func (s *AdminServer) RunExpiry(ctx context.Context, r *ledgerv1.RunExpiryRequest) (*longrunningpb.Operation, error) {
	asOf := fromTS(r.GetAsOf())
	return start(ctx, s, "RunExpiry", r.GetIdempotencyKey(), r.GetProgrammeId(), expiryForm{AsOf: optTime(asOf), ProgrammeID: r.GetProgrammeId()},
		s.a.check(r.GetProgrammeId(), "as_of", asOf),
		func(ctx context.Context) (*ledgerv1.RunExpiryResponse, error) {
			run, err := s.a.Posting.RunExpiry(ctx, asOf, r.GetProgrammeId())
			if err != nil {
				return nil, err
			}
			return &ledgerv1.RunExpiryResponse{
				MembersProcessed: run.Members, LotsExpired: run.LotsExpired, PointsExpired: run.PointsExpired,
				PendingPointsReleased: run.PendingReleased, HoldsExpired: run.HoldsExpired,
			}, nil
		})
}

func (s *AdminServer) EvaluateTiers(ctx context.Context, r *ledgerv1.EvaluateTiersRequest) (*longrunningpb.Operation, error) {
	asOf := fromTS(r.GetAsOf())
	return start(ctx, s, "EvaluateTiers", r.GetIdempotencyKey(), "", asOfForm{AsOf: optTime(asOf)}, s.a.check("", "as_of", asOf),
		func(ctx context.Context) (*ledgerv1.EvaluateTiersResponse, error) {
			members, events, err := s.a.Status.EvaluateTiers(ctx, asOf)
			if err != nil {
				return nil, err
			}
			return &ledgerv1.EvaluateTiersResponse{MembersEvaluated: members, Events: events}, nil
		})
}

func (s *AdminServer) RecomputeSegments(ctx context.Context, r *ledgerv1.RecomputeSegmentsRequest) (*longrunningpb.Operation, error) {
	asOf := fromTS(r.GetAsOf())
	return start(ctx, s, "RecomputeSegments", r.GetIdempotencyKey(), r.GetProgrammeId(), programmeAsOfForm{ProgrammeID: r.GetProgrammeId(), AsOf: optTime(asOf)},
		s.a.check(r.GetProgrammeId(), "as_of", asOf),
		func(ctx context.Context) (*ledgerv1.RecomputeSegmentsResponse, error) {
			res, err := s.a.Status.RecomputeSegments(ctx, r.GetProgrammeId(), asOf)
			if err != nil {
				return nil, err
			}
			return &ledgerv1.RecomputeSegmentsResponse{
				RunId: res.Run.ID, MembersScored: res.Run.Scored, MembersChanged: res.Run.Changed, Distribution: res.Distribution,
			}, nil
		})
}

func (s *AdminServer) RunMoments(ctx context.Context, r *ledgerv1.RunMomentsRequest) (*longrunningpb.Operation, error) {
	asOf := fromTS(r.GetAsOf())
	return start(ctx, s, "RunMoments", r.GetIdempotencyKey(), r.GetProgrammeId(), programmeAsOfForm{ProgrammeID: r.GetProgrammeId(), AsOf: optTime(asOf)},
		s.a.check(r.GetProgrammeId(), "", asOf),
		func(ctx context.Context) (*ledgerv1.RunMomentsResponse, error) {
			n, err := s.a.Status.RunMoments(ctx, r.GetProgrammeId(), asOf)
			if err != nil {
				return nil, err
			}
			return &ledgerv1.RunMomentsResponse{Events: int64(n)}, nil
		})
}

func (s *AdminServer) RebuildProjections(ctx context.Context, r *ledgerv1.RebuildProjectionsRequest) (*longrunningpb.Operation, error) {
	return start(ctx, s, "RebuildProjections", r.GetIdempotencyKey(), "", rebuildForm{}, nil,
		func(ctx context.Context) (*ledgerv1.RebuildProjectionsResponse, error) {
			if err := s.a.Status.Rebuild(ctx); err != nil {
				return nil, err
			}
			return &ledgerv1.RebuildProjectionsResponse{}, nil
		})
}

func (s *AdminServer) RefreshKpis(ctx context.Context, r *ledgerv1.RefreshKpisRequest) (*longrunningpb.Operation, error) {
	asOf := fromTS(r.GetAsOf())
	return start(ctx, s, "RefreshKpis", r.GetIdempotencyKey(), r.GetProgrammeId(), programmeAsOfForm{ProgrammeID: r.GetProgrammeId(), AsOf: optTime(asOf)},
		s.a.check(r.GetProgrammeId(), "as_of", asOf),
		func(ctx context.Context) (*ledgerv1.RefreshKpisResponse, error) {
			res, err := s.a.Analytics.RefreshKPIs(ctx, r.GetProgrammeId(), asOf)
			if err != nil {
				return nil, err
			}
			return &ledgerv1.RefreshKpisResponse{Members: res.Members, Months: int32(res.Periods), Model: modelToProto(res.Model),
				Duration: durationpb.New(res.Duration)}, nil
		})
}

func (s *AdminServer) FitChurnModel(ctx context.Context, r *ledgerv1.FitChurnModelRequest) (*longrunningpb.Operation, error) {
	calEnd := fromTS(r.GetCalibrationEnd())
	return start(ctx, s, "FitChurnModel", r.GetIdempotencyKey(), r.GetProgrammeId(), fitForm{ProgrammeID: r.GetProgrammeId(), CalibrationEnd: calEnd},
		s.a.check(r.GetProgrammeId(), "", calEnd),
		func(ctx context.Context) (*ledgerv1.FitChurnModelResponse, error) {
			m, err := s.a.Analytics.FitChurnModel(ctx, r.GetProgrammeId(), calEnd)
			if err != nil {
				return nil, err
			}
			return &ledgerv1.FitChurnModelResponse{Model: modelToProto(m)}, nil
		})
}

// errorStatus is err as the google.rpc.Status a call failing with it
// would have carried, with its ErrorInfo.
func errorStatus(ctx context.Context, log *slog.Logger, method string, err error) *spb.Status {
	st := grpcstatus.Convert(grpcserver.Status(ctx, log, method, err))
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Proto()
		}
	}
	reason := fault.ReasonInternal
	switch st.Code() {
	case codes.Unavailable:
		reason = fault.ReasonUnavailable
	case codes.Canceled:
		reason = fault.ReasonCanceled
	}
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: string(reason), Domain: fault.ErrorDomain}); err == nil {
		st = d
	}
	return st.Proto()
}

var operationStates = map[operations.State]ledgerv1.OperationState{
	operations.Running:   ledgerv1.OperationState_OPERATION_STATE_RUNNING,
	operations.Succeeded: ledgerv1.OperationState_OPERATION_STATE_SUCCEEDED,
	operations.Failed:    ledgerv1.OperationState_OPERATION_STATE_FAILED,
	operations.Cancelled: ledgerv1.OperationState_OPERATION_STATE_CANCELLED,
}

const operationPrefix = "operations/"

// operationToProto is an operation as google.longrunning sees it.
func operationToProto(ctx context.Context, log *slog.Logger, o *operations.Operation) (*longrunningpb.Operation, error) {
	md := &ledgerv1.OperationMetadata{
		Method: o.Method, ProgrammeId: o.ProgrammeID, RequestedBy: o.Caller, State: operationStates[o.State],
		CreateTime: ts(o.CreatedAt), HeartbeatTime: ts(o.HeartbeatAt), EndTime: ts(o.EndedAt), CancelRequested: o.CancelRequested,
		MembersProcessed: o.Progress,
	}
	if o.Done() {
		md.ProgressPercent = 100
	}
	mda, err := anypb.New(md)
	if err != nil {
		return nil, err
	}
	op := &longrunningpb.Operation{Name: operationPrefix + o.ID, Metadata: mda, Done: o.Done()}
	switch {
	case o.Abandoned:
		op.Result = &longrunningpb.Operation_Error{Error: errorStatus(ctx, log, "", fault.Unavailable(fault.OperationAbandoned,
			"the server running the operation stopped before it finished (no heartbeat since %s): start it again with a new idempotency key",
			o.HeartbeatAt.Format(time.RFC3339)))}
	case o.State == operations.Succeeded:
		var a anypb.Any
		if err := proto.Unmarshal(o.Outcome, &a); err != nil {
			return nil, err
		}
		op.Result = &longrunningpb.Operation_Response{Response: &a}
	case o.State == operations.Failed || o.State == operations.Cancelled:
		var st spb.Status
		if err := proto.Unmarshal(o.Outcome, &st); err != nil {
			return nil, err
		}
		op.Result = &longrunningpb.Operation_Error{Error: &st}
	}
	return op, nil
}

// operationID is the id in an operation's name.
func operationID(name string) (string, error) {
	id, ok := strings.CutPrefix(name, operationPrefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fault.Invalid("name", "must be an operation's name, operations/<id>")
	}
	return id, nil
}

func (s *OperationsServer) get(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	id, err := operationID(name)
	if err != nil {
		return nil, err
	}
	o, err := s.a.Operations.Get(ctx, principal.Of(ctx), id)
	if err != nil {
		return nil, err
	}
	return operationToProto(ctx, s.a.Logger, o)
}

// GetOperation returns an operation's state: any replica answers.
func (s *OperationsServer) GetOperation(ctx context.Context, r *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	return s.get(ctx, r.GetName())
}

// WaitOperation returns an operation once it is done, or when the
// timeout (at most 60 s, by default the call's deadline) has passed,
// whichever comes first.
func (s *OperationsServer) WaitOperation(ctx context.Context, r *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	timeout := time.Minute
	if d := r.GetTimeout(); d != nil && d.AsDuration() > 0 && d.AsDuration() < timeout {
		timeout = d.AsDuration()
	}
	deadline := time.Now().Add(timeout)
	for {
		op, err := s.get(ctx, r.GetName())
		if err != nil || op.GetDone() {
			return op, err
		}
		wait := min(250*time.Millisecond, time.Until(deadline))
		if wait <= 0 {
			return op, nil
		}
		select {
		case <-ctx.Done():
			return op, nil
		case <-time.After(wait):
		}
	}
}

// listPageMax caps ListOperations' page size.
const listPageMax = 100

// ListOperations lists the operations the caller may see, newest first:
// those it started and, for an operator, those of its programmes.
func (s *OperationsServer) ListOperations(ctx context.Context, r *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	if n := r.GetName(); n != "" && n != "operations" {
		return nil, fault.Invalid("name", "must be empty or \"operations\"")
	}
	if r.GetFilter() != "" {
		return nil, fault.Invalid("filter", "is not supported: leave it empty")
	}
	scope := paging.Scope("ListOperations")
	var afterAt time.Time
	var afterID string
	if t := r.GetPageToken(); t != "" {
		pos, err := paging.Position(scope, t)
		if err != nil {
			return nil, err
		}
		at, id, ok := strings.Cut(pos, "/")
		micros, perr := strconv.ParseInt(at, 10, 64)
		if !ok || perr != nil {
			return nil, fault.Invalid("page_token", "is not a page token of this listing")
		}
		afterAt, afterID = time.UnixMicro(micros).UTC(), id
	}
	size := paging.Size(int(r.GetPageSize()), 50, listPageMax)
	ops, err := s.a.Operations.List(ctx, principal.Of(ctx), afterAt, afterID, size+1)
	if err != nil {
		return nil, err
	}
	resp := &longrunningpb.ListOperationsResponse{}
	if len(ops) > size {
		ops = ops[:size]
		last := ops[size-1]
		resp.NextPageToken = paging.Token(scope, strconv.FormatInt(last.CreatedAt.UnixMicro(), 10)+"/"+last.ID)
	}
	for i := range ops {
		op, err := operationToProto(ctx, s.a.Logger, &ops[i])
		if err != nil {
			return nil, err
		}
		resp.Operations = append(resp.Operations, op)
	}
	return resp, nil
}

// CancelOperation asks a running operation to stop (AIP-151): its work is
// cancelled at once on the replica running it if that is this one, else
// at that replica's next heartbeat; the operation then ends with a
// CANCELLED error, unless its work finished first. Cancelling an
// operation that is done changes nothing.
func (s *OperationsServer) CancelOperation(ctx context.Context, r *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	id, err := operationID(r.GetName())
	if err != nil {
		return nil, err
	}
	if _, err := s.a.Operations.Cancel(ctx, principal.Of(ctx), id); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// DeleteOperation is not offered: operations are kept, as the record of
// the batch work done.
func (s *OperationsServer) DeleteOperation(context.Context, *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	return nil, grpcstatus.Error(codes.Unimplemented, "operations are kept: DeleteOperation is not offered")
}
