// Package authz is the one place where Fidelis services decide who may
// call what: an interceptor pair (unary and stream) that authenticates
// every call (an API key, or a verified client certificate), applies the
// rate limits, authorises it by the rules table (Rules: roles per RPC,
// programme binding, per-principal limits), and audits every mutation and
// every denied call. Services read the authenticated principal from the
// context (principal.FromContext) and check the programme of what they
// load against it.
package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/certs"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// DelegationHeader carries, from a service to another, the principal the
// calling service acts for (JSON of principal.Delegation). Only principals
// with the service role may send it.
const DelegationHeader = "fidelis-on-behalf-of"

// Authenticator checks credentials. A failed check is a
// *principal.AuthFailure; any other error is a store that cannot be read.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (principal.Principal, error)
	Certificate(ctx context.Context, commonName string) (principal.Principal, error)
}

// Auditor keeps the audit log.
type Auditor interface {
	Audit(r audit.Record)
	FailedAuthentication(source, reason string)
}

// Limits are the abuse limits, per replica.
type Limits struct {
	// PerPrincipal is a principal's requests per second unless its own
	// limit says otherwise (default 1,000; the burst is twice the rate).
	PerPrincipal float64
	// PerAddress is the requests per second from one client address of
	// principals other than services (default 5,000).
	PerAddress float64
	// FailuresPerAddress is the rate of failed authentications one client
	// address may make (default 10 per second, bursts of 100); past it,
	// its calls are refused before any credential is looked up.
	FailuresPerAddress float64
	// StreamsPerPrincipal caps a principal's open event streams (default 8).
	StreamsPerPrincipal int
}

// Options configure a Guard.
type Options struct {
	Auth   Authenticator
	Audit  Auditor
	Limits Limits
	Logger *slog.Logger
	// Rules override Rules() (tests).
	Rules map[string]Rule
}

// Guard is the interceptor pair.
type Guard struct {
	auth   Authenticator
	audit  Auditor
	rules  map[string]Rule
	limits Limits
	log    *slog.Logger

	principals *limiters
	addresses  *limiters
	failures   *limiters

	mu      sync.Mutex
	streams map[string]int
}

// New builds a Guard.
func New(o Options) *Guard {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Rules == nil {
		o.Rules = Rules()
	}
	l := &o.Limits
	if l.PerPrincipal <= 0 {
		l.PerPrincipal = 1000
	}
	if l.PerAddress <= 0 {
		l.PerAddress = 5000
	}
	if l.FailuresPerAddress <= 0 {
		l.FailuresPerAddress = 10
	}
	if l.StreamsPerPrincipal <= 0 {
		l.StreamsPerPrincipal = 8
	}
	return &Guard{
		auth: o.Auth, audit: o.Audit, rules: o.Rules, limits: o.Limits, log: o.Logger,
		principals: newLimiters(), addresses: newLimiters(), failures: newLimiters(),
		streams: map[string]int{},
	}
}

// Rule is the rule of a full method name.
func (g *Guard) Rule(method string) (Rule, bool) {
	r, ok := g.rules[method]
	return r, ok
}

// Unary authenticates, authorises and audits unary calls.
func (g *Guard) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		c, err := g.admit(ctx, info.FullMethod)
		if err != nil || c.rule.Public {
			if err == nil {
				return h(ctx, req)
			}
			return nil, err
		}
		if err = g.authorizeRole(c); err == nil {
			err = g.authorizeRequest(c, req)
		}
		if err == nil {
			var resp any
			resp, err = h(principal.NewContext(ctx, c.who), req)
			g.done(c, err)
			return resp, err
		}
		g.done(c, err)
		return nil, err
	}
}

// Stream authenticates, authorises and audits streaming calls, checks
// each message the client sends, and caps a principal's open streams.
func (g *Guard) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		c, err := g.admit(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if c.rule.Public {
			return h(srv, ss)
		}
		if err := g.authorizeRole(c); err != nil {
			g.done(c, err)
			return err
		}
		if !c.rule.AnyRole {
			release, err := g.openStream(c)
			if err != nil {
				g.done(c, err)
				return err
			}
			defer release()
		}
		err = h(srv, &guardedStream{ServerStream: ss, ctx: principal.NewContext(ss.Context(), c.who), g: g, c: c})
		g.done(c, err)
		return err
	}
}

type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
	g   *Guard
	c   *call
}

func (s *guardedStream) Context() context.Context { return s.ctx }

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.g.authorizeRequest(s.c, m)
}

// call is one admitted call.
type call struct {
	method string
	rule   Rule
	who    principal.Principal
	source string
	// denied is set once the call was refused for who its principal is.
	denied bool
}

// admit finds the call's rule, authenticates its caller and applies the
// rate limits; a public call needs no credential.
func (g *Guard) admit(ctx context.Context, method string) (*call, error) {
	rule, ok := g.rules[method]
	if !ok {
		g.log.ErrorContext(ctx, "no access rule for method: refused", slog.String("method", method))
		return nil, status.Errorf(codes.PermissionDenied, "%s has no access rule", method)
	}
	c := &call{method: strings.TrimPrefix(method, "/"), rule: rule, source: source(ctx)}
	if rule.Public {
		return c, nil
	}
	now := time.Now()
	// A client address that keeps failing to authenticate is refused
	// before its credentials are looked up.
	if ok, _ := g.failures.peek(c.source, g.limits.FailuresPerAddress, 100, now); !ok {
		g.audit.FailedAuthentication(c.source, "rate_limited")
		return nil, exhausted("too many failed authentications from this address", time.Second)
	}
	who, err := g.authenticate(ctx)
	if err != nil {
		var af *principal.AuthFailure
		if errors.As(err, &af) {
			g.failures.take(c.source, g.limits.FailuresPerAddress, 100, now)
			g.audit.FailedAuthentication(c.source, af.Reason)
			return nil, status.Error(codes.Unauthenticated, af.Msg)
		}
		g.log.WarnContext(ctx, "credentials could not be checked", slog.String("method", c.method), slog.Any("error", err))
		return nil, status.Error(codes.Unavailable, "credentials cannot be checked now; retry")
	}
	c.who = who
	rate := g.limits.PerPrincipal
	if who.Limits.RatePerSecond > 0 {
		rate = float64(who.Limits.RatePerSecond)
	}
	if ok, wait := g.principals.take(who.ID, rate, int(2*rate), now); !ok {
		return nil, exhausted(fmt.Sprintf("principal %s is over its rate limit of %g requests per second", who.ID, rate), wait)
	}
	if !who.Has(principal.Service) {
		if ok, wait := g.addresses.take(c.source, g.limits.PerAddress, int(2*g.limits.PerAddress), now); !ok {
			return nil, exhausted(fmt.Sprintf("address %s is over its rate limit of %g requests per second", c.source, g.limits.PerAddress), wait)
		}
	}
	return c, nil
}

// authenticate reads the caller's credentials: an API key in the
// authorization metadata, else a verified client certificate; and a
// delegation, which only services may send.
func (g *Guard) authenticate(ctx context.Context) (principal.Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var who principal.Principal
	var err error
	if v := md.Get("authorization"); len(v) > 0 {
		scheme, key, _ := strings.Cut(v[0], " ")
		if !strings.EqualFold(scheme, "bearer") || len(v) > 1 {
			return who, &principal.AuthFailure{Reason: "malformed_key", Msg: "authorization: want one \"Bearer <key id>.<secret>\""}
		}
		who, err = g.auth.Authenticate(ctx, strings.TrimSpace(key))
	} else if cn := clientIdentity(ctx); cn != "" {
		who, err = g.auth.Certificate(ctx, cn)
	} else {
		return who, &principal.AuthFailure{Reason: "missing_credentials",
			Msg: "missing credentials: send \"authorization: Bearer <key id>.<secret>\" metadata"}
	}
	if err != nil {
		return who, err
	}
	d := md.Get(DelegationHeader)
	if len(d) == 0 {
		return who, nil
	}
	if !who.Has(principal.Service) {
		return who, &principal.AuthFailure{Reason: "bad_delegation", Msg: "only services may act on behalf of another principal"}
	}
	var del principal.Delegation
	if len(d) > 1 || json.Unmarshal([]byte(d[0]), &del) != nil || principal.ValidID(del.ID) != nil || len(del.Programmes) == 0 {
		return who, &principal.AuthFailure{Reason: "bad_delegation", Msg: DelegationHeader + ": malformed"}
	}
	return who.Delegated(del), nil
}

func clientIdentity(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ""
	}
	return certs.ClientIdentity(info.State)
}

// authorizeRole checks that the caller holds a role the rule names.
func (g *Guard) authorizeRole(c *call) error {
	if !c.rule.AnyRole && !c.who.HasAny(c.rule.Roles) {
		c.denied = true
		return status.Errorf(codes.PermissionDenied, "principal %s may not call %s", c.who.Actor(), c.method)
	}
	return nil
}

// authorizeRequest applies the rule to a request: programme binding and
// limits.
func (g *Guard) authorizeRequest(c *call, req any) error {
	r, who := c.rule, c.who
	var err error
	switch r.Scope {
	case Everything:
		err = who.CheckEverywhere()
	case ProgrammeField, OptionalProgrammeField:
		switch id := programmeField(req); {
		case id != "":
			err = who.CheckProgramme(id)
		case r.Scope == ProgrammeField:
			err = who.CheckEverywhere()
		}
	}
	if err == nil && r.Check != nil {
		err = r.Check(who, req)
	}
	if err != nil {
		c.denied = true
		return denied(err)
	}
	return nil
}

// programmeField reads a request's programme_id.
func programmeField(req any) string {
	m, ok := req.(proto.Message)
	if !ok {
		return ""
	}
	msg := m.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName("programme_id")
	if fd == nil || fd.Kind() != protoreflect.StringKind {
		return ""
	}
	return msg.Get(fd).String()
}

// done audits a call once it ends: every mutation, and every call refused
// with PermissionDenied.
func (g *Guard) done(c *call, err error) {
	code := status.Code(err)
	if !c.rule.Write && code != codes.PermissionDenied && !c.denied {
		return
	}
	g.audit.Audit(audit.Record{
		Method: c.method, Principal: c.who.ID, OnBehalfOf: c.who.OnBehalfOf,
		Decision: audit.DecisionOf(code.String()), Code: code.String(), Source: c.source,
	})
}

func (g *Guard) openStream(c *call) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.streams[c.who.ID] >= g.limits.StreamsPerPrincipal {
		return nil, exhausted(fmt.Sprintf("principal %s has %d streams open, the most it may", c.who.ID, g.limits.StreamsPerPrincipal), 5*time.Second)
	}
	g.streams[c.who.ID]++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.streams[c.who.ID]--; g.streams[c.who.ID] <= 0 {
			delete(g.streams, c.who.ID)
		}
	}, nil
}

// denied is PermissionDenied with the reason of err (a fault.Denied).
func denied(err error) error {
	reason := fault.ReasonOf(err)
	if reason == "" {
		reason = fault.ReasonPermissionDenied
	}
	st := status.New(codes.PermissionDenied, err.Error())
	if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: string(reason), Domain: fault.ErrorDomain}); derr == nil {
		st = d
	}
	return st.Err()
}

// exhausted is ResourceExhausted with the delay to retry after.
func exhausted(msg string, wait time.Duration) error {
	st := status.New(codes.ResourceExhausted, msg)
	if d, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: string(fault.ReasonRateLimited), Domain: fault.ErrorDomain},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(max(wait, time.Millisecond))},
	); err == nil {
		st = d
	}
	return st.Err()
}

// source is the client's IP address.
func source(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	if ap, err := netip.ParseAddrPort(p.Addr.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.String()
}
