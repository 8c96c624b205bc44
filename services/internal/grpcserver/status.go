package grpcserver

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
			if vs := f.Violations(); f.Kind == fault.KindInvalid && len(vs) > 0 {
				br := &errdetails.BadRequest{}
				for _, v := range vs {
					br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Msg})
				}
				return InvalidArgument(f.Error(), br)
			}
			return status.Error(code, f.Error())
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
				f = &fault.Error{Kind: kind, Field: vs[0].Field, Msg: vs[0].Msg, More: vs[1:]}
			}
		}
		return f
	}
	return &RemoteFailure{Service: service, Code: st.Code(), Err: err}
}
