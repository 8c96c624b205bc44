// Package grpcserver builds the gRPC server every Fidelis service runs in:
// access control on every call (services/internal/authz), health and
// reflection, protovalidate request validation, OpenTelemetry traces and
// metrics, request size limits, a default deadline, and TLS.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"buf.build/go/protovalidate"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry"
)

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
	// Guard authenticates, authorises and audits every call, before request
	// validation (so that it sees invalid calls too). Required: a server
	// without one cannot be built.
	Guard *authz.Guard
	// Creds secure the transport (TLS); nil serves plaintext, which the
	// caller allows on loopback only (or when told to).
	Creds credentials.TransportCredentials
	// Health is shared with other servers of the process (the operations
	// port); nil makes one.
	Health *health.Server
	// AccessLog is the level of the access log's line per call (see
	// access); nil writes none.
	AccessLog slog.Leveler
	// Listener names the server in its metrics and access log ("public",
	// "internal").
	Listener string
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
	if o.Guard == nil {
		return nil, errors.New("grpcserver: no access guard: every server authenticates and authorises its calls")
	}
	if o.Health == nil {
		o.Health = health.NewServer()
	}
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("grpcserver: protovalidate: %w", err)
	}
	// The guard sees the status a call ends with: errors are mapped
	// inside it, for every handler in one place.
	codec := newLenientCodec()
	acc, err := newAccess(o)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: %w", err)
	}
	unary := []grpc.UnaryServerInterceptor{acc.unary, codec.forgetUnary, errorInfoUnary, recoverUnary(o.Logger), deadlineUnary(o.DefaultTimeout), o.Guard.Unary(),
		notePrincipalUnary, statusUnary(o.Logger), validateUnary(v, codec)}
	unary = append(unary, o.Unary...)
	stream := append([]grpc.StreamServerInterceptor{acc.stream, errorInfoStream, recoverStream(o.Logger), o.Guard.Stream(), notePrincipalStream,
		statusStream(o.Logger), validateStream(v, codec)}, o.Stream...)
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec),
		grpc.MaxRecvMsgSize(o.MaxRecvBytes),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute}),
	}
	if o.Creds != nil {
		opts = append(opts, grpc.Creds(o.Creds))
	}
	if t := o.Telemetry; t != nil {
		hopts := []otelgrpc.Option{otelgrpc.WithTracerProvider(t.Tracer), otelgrpc.WithMeterProvider(t.Meter), otelgrpc.WithPropagators(t.Propagator)}
		if o.Listener != "" {
			// rpc_server_call_duration_seconds{listener=...}: the calls of
			// clients apart from those between the services of a process.
			hopts = append(hopts, otelgrpc.WithMetricAttributes(attribute.String("listener", o.Listener)))
		}
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(hopts...)))
	}
	s := &Server{Server: grpc.NewServer(opts...), Health: o.Health}
	healthpb.RegisterHealthServer(s.Server, s.Health)
	reflection.Register(s.Server)
	return s, nil
}

// NewHealthOnly builds a server that answers health checks and nothing
// else, in plaintext, for the operations port: kubelet's gRPC probes and
// load balancers have no credential and speak no TLS.
func NewHealthOnly(h *health.Server) *grpc.Server {
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, h)
	return s
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

func validateUnary(v protovalidate.Validator, c *lenientCodec) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err, bad := c.undecodable(req); bad {
			return nil, undecodableStatus(err)
		}
		if m, ok := req.(proto.Message); ok {
			if vs := sanitize(m.ProtoReflect()); len(vs) > 0 {
				return nil, sanitizeStatus(vs)
			}
			if err := v.Validate(m); err != nil {
				return nil, validationStatus(err)
			}
		}
		return h(ctx, req)
	}
}

// validateStream validates every message a stream receives, as
// validateUnary does a unary request.
func validateStream(v protovalidate.Validator, c *lenientCodec) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &validatingStream{ServerStream: ss, v: v, codec: c})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v     protovalidate.Validator
	codec *lenientCodec
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err, bad := s.codec.undecodable(m); bad {
		return undecodableStatus(err)
	}
	if pm, ok := m.(proto.Message); ok {
		if vs := sanitize(pm.ProtoReflect()); len(vs) > 0 {
			return sanitizeStatus(vs)
		}
	}
	if pm, ok := m.(proto.Message); ok {
		if err := s.v.Validate(pm); err != nil {
			return validationStatus(err)
		}
	}
	return nil
}

// sanitizeStatus is the refusal of a request with fields sanitize refuses.
func sanitizeStatus(vs []fault.Violation) error {
	return faultStatus(codes.InvalidArgument, &fault.Error{Kind: fault.KindInvalid, Field: vs[0].Field, Msg: vs[0].Msg, More: vs[1:]})
}

// undecodableStatus is the refusal of a request that did not decode.
func undecodableStatus(err error) error {
	return withDetails(status.New(codes.InvalidArgument, "the request does not decode as its message: "+err.Error()),
		&errdetails.ErrorInfo{Reason: string(fault.ReasonInvalidArgument), Domain: fault.ErrorDomain})
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
	return withDetails(status.New(codes.InvalidArgument, msg),
		&errdetails.ErrorInfo{Reason: string(fault.ReasonInvalidArgument), Domain: fault.ErrorDomain}, br)
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

// Dial connects to another Fidelis service over tc (nil: plaintext),
// instrumented like the server, with per-call credentials.
func Dial(target string, tel *telemetry.Providers, tc credentials.TransportCredentials, call credentials.PerRPCCredentials) (*grpc.ClientConn, error) {
	if tc == nil {
		tc = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(tc)}
	if call != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(call))
	}
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
