package grpcserver

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
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

// Status maps an error from the app layer to a gRPC status: a broken domain
// rule to its code, a cancelled or timed-out call to Canceled or
// DeadlineExceeded, an existing status unchanged, anything else to Internal
// (logged, with no detail leaked to the caller).
func Status(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if f, ok := fault.As(err); ok {
		if f.Kind == fault.KindInvalid && f.Field != "" {
			return InvalidArgument(f.Error(), &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: f.Field, Description: f.Msg},
			}})
		}
		return status.Error(faultCodes[f.Kind], f.Error())
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	log.ErrorContext(ctx, "internal error", slog.String("method", method), slog.Any("error", err))
	return status.Error(codes.Internal, "internal error")
}
