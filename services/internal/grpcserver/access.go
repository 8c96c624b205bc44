package grpcserver

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// access is the outermost interceptor: it writes the access log (one line
// per call: method, gRPC code, duration, principal, and whether the call
// replayed a stored outcome) and counts idempotent replays. It logs no
// request or response and no personal data: a principal id names an API
// client, never a member.
type access struct {
	log *slog.Logger
	// level is the level of the lines; nil writes none.
	level    slog.Leveler
	listener string
	replays  metric.Int64Counter
}

func newAccess(o Options) (*access, error) {
	a := &access{log: o.Logger, level: o.AccessLog, listener: o.Listener}
	if o.Telemetry != nil {
		var err error
		a.replays, err = o.Telemetry.Meter.Meter("github.com/fidelis-loyalty/fidelis/services/internal/grpcserver").
			Int64Counter("fidelis.idempotency.replays", metric.WithUnit("{call}"),
				metric.WithDescription("Calls answered with the outcome stored under their idempotency key, by method"))
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// call is what the access log learns of a call as it runs: the
// principal, once the guard has authenticated it (see notePrincipal).
type call struct {
	principal, onBehalfOf string
}

type callKey struct{}

func (a *access) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	c := &call{}
	ctx, replayed := idem.WatchReplays(context.WithValue(ctx, callKey{}, c))
	resp, err := h(ctx, req)
	a.done(ctx, info.FullMethod, c, start, err, replayed())
	return resp, err
}

func (a *access) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	c := &call{}
	ctx, replayed := idem.WatchReplays(context.WithValue(ss.Context(), callKey{}, c))
	err := h(srv, &contextStream{ServerStream: ss, ctx: ctx})
	a.done(ctx, info.FullMethod, c, start, err, replayed())
	return err
}

func (a *access) done(ctx context.Context, method string, c *call, start time.Time, err error, replayed bool) {
	took := time.Since(start)
	method = strings.TrimPrefix(method, "/")
	if replayed && a.replays != nil {
		a.replays.Add(ctx, 1, metric.WithAttributes(attribute.String("rpc_method", method), attribute.String("listener", a.listener)))
	}
	if a.level == nil {
		return
	}
	level := a.level.Level()
	if strings.HasPrefix(method, "grpc.health.v1.") {
		level = slog.LevelDebug // load balancers' checks, every few seconds
	}
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method), slog.String("code", status.Code(err).String()),
		slog.Duration("took", took), slog.String("listener", a.listener),
	}
	if c.principal != "" {
		attrs = append(attrs, slog.String("principal", c.principal))
	}
	if c.onBehalfOf != "" {
		attrs = append(attrs, slog.String("on_behalf_of", c.onBehalfOf))
	}
	if replayed {
		attrs = append(attrs, slog.Bool("replayed", true))
	}
	a.log.LogAttrs(ctx, level, "rpc", attrs...)
}

// notePrincipalUnary, placed after the guard, tells the access log who
// the authenticated caller is.
func notePrincipalUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	notePrincipal(ctx)
	return h(ctx, req)
}

func notePrincipalStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	notePrincipal(ss.Context())
	return h(srv, ss)
}

func notePrincipal(ctx context.Context) {
	c, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		return
	}
	if p, ok := principal.FromContext(ctx); ok {
		c.principal, c.onBehalfOf = p.ID, p.OnBehalfOf
	}
}

// contextStream is a stream with another context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
