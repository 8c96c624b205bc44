// Package grpcserver builds the gRPC server every Fidelis service runs in:
// health and reflection, protovalidate request validation, OpenTelemetry
// traces and metrics, request size limits, a default deadline, and the
// caller identity that scopes idempotency keys.
package grpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"buf.build/go/protovalidate"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry"
)

// CallerHeader is the gRPC metadata key naming the calling system (a POS
// fleet, the rewards service, a partner). Idempotency keys are scoped to it.
const CallerHeader = "x-fidelis-caller"

// Options configure a server.
type Options struct {
	Logger *slog.Logger
	// MaxRecvBytes bounds a request message (default 1 MiB).
	MaxRecvBytes int
	// DefaultTimeout applies to calls that arrive without a deadline
	// (default 30s).
	DefaultTimeout time.Duration
	// Telemetry instruments the server with otelgrpc (traces and metrics);
	// nil leaves it uninstrumented.
	Telemetry *telemetry.Providers
	// Guards are unary interceptors that run before request validation, so
	// that they see every call, invalid ones too (authentication, audit).
	Guards []grpc.UnaryServerInterceptor
	// Unary and Stream are extra interceptors, run after the built-in ones.
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
}

// Server is a gRPC server with its health service.
type Server struct {
	*grpc.Server
	Health *health.Server
}

// New builds a server. Register services on it, then mark them serving with
// Health.SetServingStatus.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxRecvBytes <= 0 {
		o.MaxRecvBytes = 1 << 20
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = 30 * time.Second
	}
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("grpcserver: protovalidate: %w", err)
	}
	unary := append([]grpc.UnaryServerInterceptor{recoverUnary(o.Logger), deadlineUnary(o.DefaultTimeout)}, o.Guards...)
	unary = append(append(unary, validateUnary(v)), o.Unary...)
	stream := append([]grpc.StreamServerInterceptor{recoverStream(o.Logger), validateStream(v)}, o.Stream...)
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.MaxRecvBytes),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute}),
	}
	if t := o.Telemetry; t != nil {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(t.Tracer), otelgrpc.WithMeterProvider(t.Meter), otelgrpc.WithPropagators(t.Propagator))))
	}
	s := &Server{Server: grpc.NewServer(opts...), Health: health.NewServer()}
	healthpb.RegisterHealthServer(s.Server, s.Health)
	reflection.Register(s.Server)
	return s, nil
}

// Caller names the calling system from the request metadata ("anonymous"
// when absent).
func Caller(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(CallerHeader); len(v) > 0 && v[0] != "" && len(v[0]) <= 128 {
			return v[0]
		}
	}
	return "anonymous"
}

func deadlineUnary(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return h(ctx, req)
	}
}

func validateUnary(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := v.Validate(m); err != nil {
				return nil, validationStatus(err)
			}
		}
		return h(ctx, req)
	}
}

// validateStream validates every message a stream receives, as
// validateUnary does a unary request.
func validateStream(v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &validatingStream{ServerStream: ss, v: v})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v protovalidate.Validator
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		if err := s.v.Validate(pm); err != nil {
			return validationStatus(err)
		}
	}
	return nil
}

// validationStatus turns a protovalidate error into InvalidArgument with a
// BadRequest detail naming each field.
func validationStatus(err error) error {
	ve, ok := err.(*protovalidate.ValidationError)
	if !ok {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	br := &errdetails.BadRequest{}
	for _, v := range ve.Violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       protovalidate.FieldPathString(v.Proto.GetField()),
			Description: v.Proto.GetMessage(),
		})
	}
	return InvalidArgument(ve.Error(), br)
}

// InvalidArgument builds an InvalidArgument status carrying its field
// violations.
func InvalidArgument(msg string, br *errdetails.BadRequest) error {
	st := status.New(codes.InvalidArgument, msg)
	if withDetails, err := st.WithDetails(br); err == nil {
		st = withDetails
	}
	return st.Err()
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ctx, "panic in handler", slog.String("method", info.FullMethod), slog.Any("panic", r))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return h(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ss.Context(), "panic in stream handler", slog.String("method", info.FullMethod), slog.Any("panic", r))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return h(srv, ss)
	}
}

// Dial connects to another Fidelis service (plaintext; put a mesh or
// TLS-terminating proxy in front across hosts), instrumented like the
// server, with extra options (per-call credentials) if given.
func Dial(target string, tel *telemetry.Providers, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, extra...)
	if tel != nil {
		opts = append(opts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(tel.Tracer), otelgrpc.WithMeterProvider(tel.Meter), otelgrpc.WithPropagators(tel.Propagator))))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}
