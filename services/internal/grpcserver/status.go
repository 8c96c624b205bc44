package grpcserver

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

var faultCodes = map[fault.Kind]codes.Code{
	fault.KindInvalid:            codes.InvalidArgument,
	fault.KindNotFound:           codes.NotFound,
	fault.KindFailedPrecondition: codes.FailedPrecondition,
	fault.KindAlreadyExists:      codes.AlreadyExists,
	fault.KindPermissionDenied:   codes.PermissionDenied,
	fault.KindUnavailable:        codes.Unavailable,
	fault.KindUnauthenticated:    codes.Unauthenticated,
	fault.KindAborted:            codes.Aborted,
}

// statusUnary maps the error a handler returns to a gRPC status (Status).
func statusUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, Status(ctx, log, info.FullMethod, err)
		}
		return resp, nil
	}
}

// statusStream maps the error a streaming handler returns to a gRPC status.
func statusStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return Status(ss.Context(), log, info.FullMethod, handler(srv, ss))
	}
}

// Status maps an error from the app layer to a gRPC status: a broken domain
// rule to its code, a cancelled or timed-out call to Canceled or
// DeadlineExceeded, an existing status unchanged, anything else to Internal
// (logged, with no detail leaked to the caller).
func Status(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	// A fault of a kind with no code here (a bug) is an internal error
	// below, not the OK that its missing code would make it.
	if f, ok := fault.As(err); ok {
		if code, known := faultCodes[f.Kind]; known {
			return faultStatus(code, f)
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	var rf *RemoteFailure
	if errors.As(err, &rf) {
		switch rf.Code {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
			// A dependency down, slow or shedding load: the caller may
			// retry, with the same idempotency key.
			return status.Error(codes.Unavailable, rf.Service+" unavailable")
		case codes.Canceled:
			return status.Error(codes.Canceled, "canceled")
		}
		// Anything else (its Internal, this service's credentials refused)
		// is this service failing; the caller's own credentials are not at
		// fault.
		log.ErrorContext(ctx, "internal error", slog.String("method", method), slog.Any("error", err))
		return status.Error(codes.Internal, "internal error")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	log.ErrorContext(ctx, "internal error", slog.String("method", method), slog.Any("error", err))
	return status.Error(codes.Internal, "internal error")
}

// faultStatus is the status of a refusal: its code and message, with an
// ErrorInfo (its reason and metadata), a ResourceInfo when it names a
// resource, and a BadRequest with its fields when it is a bad argument.
func faultStatus(code codes.Code, f *fault.Error) error {
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: string(fault.ReasonOf(f)), Domain: fault.ErrorDomain, Metadata: f.Metadata}}
	if r := f.Resource; r != nil {
		details = append(details, &errdetails.ResourceInfo{ResourceType: r.Type, ResourceName: r.Name})
	}
	if vs := f.Violations(); f.Kind == fault.KindInvalid && len(vs) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range vs {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Msg})
		}
		details = append(details, br)
	}
	return withDetails(status.New(code, f.Error()), details...)
}

// withDetails is st with details added (st alone if they cannot be).
func withDetails(st *status.Status, details ...protoadapt.MessageV1) error {
	if d, err := st.WithDetails(details...); err == nil {
		return d.Err()
	}
	return st.Err()
}

// withErrorInfo is err, a status, with an ErrorInfo of the reason of its
// code added if it has none: every error the server returns has one.
func withErrorInfo(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return err
	}
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return err
		}
	}
	return withDetails(st, &errdetails.ErrorInfo{Reason: string(codeReason(st.Code())), Domain: fault.ErrorDomain})
}

// codeReason is the reason of a refusal that has none of its own.
func codeReason(c codes.Code) fault.Reason {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return fault.ReasonInvalidArgument
	case codes.Unauthenticated:
		return fault.ReasonUnauthenticated
	case codes.PermissionDenied:
		return fault.ReasonPermissionDenied
	case codes.ResourceExhausted:
		return fault.ReasonRateLimited
	case codes.Unavailable, codes.Aborted:
		return fault.ReasonUnavailable
	case codes.DeadlineExceeded:
		return fault.ReasonDeadlineExceeded
	case codes.Canceled:
		return fault.ReasonCanceled
	case codes.NotFound:
		return fault.ReasonNotFound
	case codes.FailedPrecondition:
		return fault.ReasonFailedPrecondition
	case codes.AlreadyExists:
		return fault.ReasonAlreadyExists
	case codes.Unimplemented:
		return fault.ReasonUnimplemented
	}
	return fault.ReasonInternal
}

// errorInfoUnary gives every error a unary call ends with an ErrorInfo.
func errorInfoUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	return resp, withErrorInfo(err)
}

// errorInfoStream gives every error a stream ends with an ErrorInfo.
func errorInfoStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return withErrorInfo(h(srv, ss))
}

// RemoteFailure is a call to another service that failed there or on the
// way (not a rule the request broke): Code is the status it ended with.
type RemoteFailure struct {
	Service string
	Code    codes.Code
	Err     error
}

func (e *RemoteFailure) Error() string { return e.Service + ": " + e.Err.Error() }

func (e *RemoteFailure) Unwrap() error { return e.Err }

// Remote turns the error of a call to another service into a rule the
// request broke there (its InvalidArgument — with the fields of its
// BadRequest detail —, NotFound, FailedPrecondition, AlreadyExists or
// PermissionDenied, with the remote message), or else a RemoteFailure of
// the named service (Unavailable at this edge when the service is down,
// slow or shedding load, Internal otherwise). No error is nil.
func Remote(service string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &RemoteFailure{Service: service, Code: codes.Unknown, Err: err}
	}
	for kind, code := range faultCodes {
		if code != st.Code() || kind == fault.KindUnavailable || kind == fault.KindUnauthenticated {
			continue
		}
		f := &fault.Error{Kind: kind, Msg: st.Message()}
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				if d.GetDomain() == fault.ErrorDomain && fault.Reason(d.GetReason()) != fault.ReasonOf(&fault.Error{Kind: kind}) {
					f.Reason, f.Metadata = fault.Reason(d.GetReason()), d.GetMetadata()
				}
			case *errdetails.ResourceInfo:
				f.Resource = &fault.Resource{Type: d.GetResourceType(), Name: d.GetResourceName()}
			}
		}
		if kind == fault.KindInvalid {
			var vs []fault.Violation
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						vs = append(vs, fault.Violation{Field: v.GetField(), Msg: v.GetDescription()})
					}
				}
			}
			if len(vs) > 0 {
				f.Field, f.Msg, f.More = vs[0].Field, vs[0].Msg, vs[1:]
			}
		}
		return f
	}
	return &RemoteFailure{Service: service, Code: st.Code(), Err: err}
}
