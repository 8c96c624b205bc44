package grpcserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
)

// fields are the field violations of st's BadRequest detail, nil without one.
func fields(st *status.Status) []fault.Violation {
	var vs []fault.Violation
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			vs = append(vs, fault.Violation{Field: v.GetField(), Msg: v.GetDescription()})
		}
	}
	return vs
}

// sameFault tells whether a and b are the same rule broken, taking no More
// and an empty More for the same.
func sameFault(a, b *fault.Error) bool {
	return a.Kind == b.Kind && a.Field == b.Field && a.Msg == b.Msg && slices.Equal(a.More, b.More) &&
		fault.ReasonOf(a) == fault.ReasonOf(b) && reflect.DeepEqual(a.Resource, b.Resource) &&
		len(a.Metadata) == len(b.Metadata) && (len(a.Metadata) == 0 || reflect.DeepEqual(a.Metadata, b.Metadata))
}

func TestStatus(t *testing.T) {
	rpcErr := status.Error(codes.ResourceExhausted, "slow down")
	for _, tc := range []struct {
		name   string
		err    error
		code   codes.Code
		msg    string
		fields []fault.Violation
		logged bool
	}{
		{name: "nil", err: nil, code: codes.OK},
		{name: "invalid field", err: fault.Invalid("points", "must be positive, not %d", -3),
			code: codes.InvalidArgument, msg: "points: must be positive, not -3",
			fields: []fault.Violation{{Field: "points", Msg: "must be positive, not -3"}}},
		{name: "invalid fields", err: fault.InvalidFields([]fault.Violation{{Field: "a", Msg: "missing"}, {Field: "b.c", Msg: "too long"}}),
			code: codes.InvalidArgument, msg: "a: missing; b.c: too long",
			fields: []fault.Violation{{Field: "a", Msg: "missing"}, {Field: "b.c", Msg: "too long"}}},
		{name: "invalid, no field", err: &fault.Error{Kind: fault.KindInvalid, Msg: "empty request"},
			code: codes.InvalidArgument, msg: "empty request"},
		{name: "not found", err: fault.NotFound(fault.MemberNotFound, "member %s", "m-1"), code: codes.NotFound, msg: "member m-1"},
		{name: "precondition", err: fault.Precondition(fault.ReasonFailedPrecondition, "balance too low"), code: codes.FailedPrecondition, msg: "balance too low"},
		{name: "exists", err: fault.Exists(fault.ReasonAlreadyExists, "programme p"), code: codes.AlreadyExists, msg: "programme p"},
		{name: "denied", err: fault.Denied(fault.ReasonPermissionDenied, "not yours"), code: codes.PermissionDenied, msg: "not yours"},
		{name: "unavailable", err: fault.Unavailable(fault.ShuttingDown, "draining"), code: codes.Unavailable, msg: "draining"},
		{name: "unauthenticated", err: fault.Unauthenticated(fault.ReasonUnauthenticated, "bad key"), code: codes.Unauthenticated, msg: "bad key"},
		{name: "wrapped fault", err: fmt.Errorf("store: load m-1 from db.internal:5432: %w", fault.NotFound(fault.MemberNotFound, "member m-1")),
			code: codes.NotFound, msg: "member m-1"},
		{name: "wrapped invalid", err: fmt.Errorf("validate: %w", fault.Invalid("points", "negative")),
			code: codes.InvalidArgument, msg: "points: negative", fields: []fault.Violation{{Field: "points", Msg: "negative"}}},
		{name: "fault of no kind", err: &fault.Error{Msg: "forgot the kind"}, code: codes.Internal, msg: "internal error", logged: true},
		{name: "fault of an unknown kind", err: &fault.Error{Kind: 99, Msg: "new kind"}, code: codes.Internal, msg: "internal error", logged: true},
		{name: "deadline", err: fmt.Errorf("query: %w", context.DeadlineExceeded), code: codes.DeadlineExceeded, msg: "deadline exceeded"},
		{name: "canceled", err: fmt.Errorf("query: %w", context.Canceled), code: codes.Canceled, msg: "canceled"},
		{name: "status", err: rpcErr, code: codes.ResourceExhausted, msg: "slow down"},
		{name: "other", err: errors.New("pq: connect to db.internal password=hunter2 failed"),
			code: codes.Internal, msg: "internal error", logged: true},
		{name: "wrapped other", err: fmt.Errorf("save: %w", errors.New("disk full at /var/lib/hunter2")),
			code: codes.Internal, msg: "internal error", logged: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			got := grpcserver.Status(context.Background(), slog.New(slog.NewTextHandler(&log, nil)), "/fidelis.test.v1.Test/Do", tc.err)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("Status(nil) = %v", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("Status(%v) = nil: a failure became a success", tc.err)
			}
			st, ok := status.FromError(got)
			if !ok {
				t.Fatalf("Status(%v) = %v, not a gRPC status", tc.err, got)
			}
			if st.Code() != tc.code || st.Message() != tc.msg {
				t.Errorf("Status(%v) = %s %q, want %s %q", tc.err, st.Code(), st.Message(), tc.code, tc.msg)
			}
			if vs := fields(st); !reflect.DeepEqual(vs, tc.fields) {
				t.Errorf("field violations %v, want %v", vs, tc.fields)
			}
			if tc.err == rpcErr && got != rpcErr {
				t.Errorf("Status(%v) = %v, want the status unchanged", tc.err, got)
			}
			if strings.Contains(st.Message(), "hunter2") {
				t.Errorf("message %q leaks the internal error", st.Message())
			}
			logged := log.String()
			if tc.logged != (logged != "") {
				t.Errorf("logged %q, want logged: %v", logged, tc.logged)
			}
			if tc.logged && (!strings.Contains(logged, "/fidelis.test.v1.Test/Do") || !strings.Contains(logged, tc.err.Error())) {
				t.Errorf("logged %q, want the method and the error", logged)
			}
		})
	}
}

// badRequest is an InvalidArgument status with field violations.
func badRequest(msg string, vs ...fault.Violation) error {
	br := &errdetails.BadRequest{}
	for _, v := range vs {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Msg})
	}
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(br, &errdetails.ErrorInfo{Reason: "OTHER_DETAIL"})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func TestRemote(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want *fault.Error // nil: a failure of the service
	}{
		{"not found", status.Error(codes.NotFound, "member m-1"), &fault.Error{Kind: fault.KindNotFound, Msg: "member m-1"}},
		{"precondition", status.Error(codes.FailedPrecondition, "balance too low"),
			&fault.Error{Kind: fault.KindFailedPrecondition, Msg: "balance too low"}},
		{"exists", status.Error(codes.AlreadyExists, "entry e-1"), &fault.Error{Kind: fault.KindAlreadyExists, Msg: "entry e-1"}},
		{"denied", status.Error(codes.PermissionDenied, "not yours"), &fault.Error{Kind: fault.KindPermissionDenied, Msg: "not yours"}},
		{"invalid, no details", status.Error(codes.InvalidArgument, "bad request"), &fault.Error{Kind: fault.KindInvalid, Msg: "bad request"}},
		{"invalid, empty BadRequest", badRequest("bad request"), &fault.Error{Kind: fault.KindInvalid, Msg: "bad request"}},
		{"invalid field", badRequest("points: negative", fault.Violation{Field: "points", Msg: "negative"}),
			&fault.Error{Kind: fault.KindInvalid, Field: "points", Msg: "negative"}},
		{"invalid fields", badRequest("a: missing; b: long", fault.Violation{Field: "a", Msg: "missing"}, fault.Violation{Field: "b", Msg: "long"}),
			&fault.Error{Kind: fault.KindInvalid, Field: "a", Msg: "missing", More: []fault.Violation{{Field: "b", Msg: "long"}}}},
		// Not rules of the request: the service failing, or this one.
		{"unavailable", status.Error(codes.Unavailable, "draining"), nil},
		{"unauthenticated", status.Error(codes.Unauthenticated, "bad key"), nil},
		{"internal", status.Error(codes.Internal, "internal error"), nil},
		{"unknown", status.Error(codes.Unknown, "?"), nil},
		{"deadline", status.Error(codes.DeadlineExceeded, "deadline exceeded"), nil},
		{"canceled", status.Error(codes.Canceled, "canceled"), nil},
		{"exhausted", status.Error(codes.ResourceExhausted, "slow down"), nil},
		{"unimplemented", status.Error(codes.Unimplemented, "no such method"), nil},
		{"not a status", errors.New("dial tcp: connection refused"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := grpcserver.Remote("ledger", tc.err)
			if got == nil {
				t.Fatalf("Remote(%v) = nil", tc.err)
			}
			f, isFault := fault.As(got)
			if tc.want != nil {
				if !isFault || !sameFault(f, tc.want) {
					t.Errorf("Remote(%v) = %#v, want %#v", tc.err, got, tc.want)
				}
				return
			}
			if isFault {
				t.Fatalf("Remote(%v) = fault %#v, want a failure of the ledger", tc.err, f)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("Remote(%v) = %v, which does not wrap the error", tc.err, got)
			}
			if !strings.HasPrefix(got.Error(), "ledger: ") {
				t.Errorf("Remote(%v) = %q, which does not name the ledger", tc.err, got)
			}
			if want := status.Code(tc.err); status.Code(got) != want {
				t.Errorf("Remote(%v) has code %s, want %s kept", tc.err, status.Code(got), want)
			}
		})
	}
}

func TestRemoteNil(t *testing.T) {
	if err := grpcserver.Remote("ledger", nil); err != nil {
		t.Errorf("Remote(nil) = %v", err)
	}
}

// A rule broken in one service is the same rule broken at the edge of the
// service that called it: Status there and Remote here are inverses.
func TestStatusRemoteRoundTrip(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, err := range []error{
		fault.Invalid("points", "negative"),
		fault.InvalidFields([]fault.Violation{{Field: "a", Msg: "missing"}, {Field: "b", Msg: "long"}}),
		&fault.Error{Kind: fault.KindInvalid, Msg: "empty request"},
		fault.NotFound(fault.MemberNotFound, "member m-1"),
		fault.Precondition(fault.ReasonFailedPrecondition, "balance too low"),
		fault.Exists(fault.ReasonAlreadyExists, "entry e-1"),
		fault.Denied(fault.ReasonPermissionDenied, "not yours"),
		fault.Precondition(fault.InsufficientPoints, "insufficient points").With("available", "3").With("requested", "5"),
		fault.Exists(fault.MemberAlreadyEnrolled, "external ref r-1 is enrolled").About("fidelis.ledger.v1.Member", "m-1"),
	} {
		got := grpcserver.Remote("ledger", grpcserver.Status(context.Background(), log, "/m", err))
		if f, ok := fault.As(got); !ok || !sameFault(f, err.(*fault.Error)) {
			t.Errorf("round trip of %#v gave %#v", err, got)
		}
	}
	// A service that cannot answer now says so to its caller's caller too,
	// which may retry (rewards' TestRedeemRetriesAnUnavailableLedger relies
	// on it).
	err := grpcserver.Status(context.Background(), log, "/m", grpcserver.Remote("ledger", status.Error(codes.Unavailable, "draining")))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("an unavailable ledger is %v at the edge, want Unavailable", err)
	}
}

// A failure of a service called is a failure of this one to its caller:
// down, slow or shedding load is Unavailable (retryable with the same
// key); anything else, this service's own credentials refused included,
// is Internal, logged, and says nothing of the remote's message.
func TestRemoteFailureAtTheEdge(t *testing.T) {
	for remote, want := range map[codes.Code]codes.Code{
		codes.Unavailable:       codes.Unavailable,
		codes.DeadlineExceeded:  codes.Unavailable,
		codes.ResourceExhausted: codes.Unavailable,
		codes.Canceled:          codes.Canceled,
		codes.Unauthenticated:   codes.Internal,
		codes.Internal:          codes.Internal,
		codes.Unimplemented:     codes.Internal,
		codes.Unknown:           codes.Internal,
	} {
		var logged bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logged, nil))
		err := grpcserver.Status(context.Background(), log, "/m", grpcserver.Remote("ledger", status.Error(remote, "secret detail")))
		if status.Code(err) != want {
			t.Errorf("remote %s is %v at the edge, want %s", remote, err, want)
		}
		if strings.Contains(err.Error(), "secret detail") {
			t.Errorf("remote %s leaks its message: %v", remote, err)
		}
		if (want == codes.Internal) != (logged.Len() > 0) {
			t.Errorf("remote %s: logged %q", remote, logged.String())
		}
	}
}

// Every refusal carries an ErrorInfo of the Fidelis domain: its own reason
// and metadata, else the reason of its kind; a ResourceInfo when it names
// a resource.
func TestStatusErrorInfo(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		err    error
		reason fault.Reason
		meta   map[string]string
		res    *errdetails.ResourceInfo
	}{
		{fault.Invalid("points", "negative"), fault.ReasonInvalidArgument, nil, nil},
		{fault.NotFound(fault.MemberNotFound, "member m-1 not found"), fault.MemberNotFound, nil, nil},
		{fault.Precondition(fault.InsufficientPoints, "short").With("available", "3"), fault.InsufficientPoints, map[string]string{"available": "3"}, nil},
		{fault.Exists(fault.MemberAlreadyEnrolled, "enrolled").About("fidelis.ledger.v1.Member", "m-7"), fault.MemberAlreadyEnrolled, nil,
			&errdetails.ResourceInfo{ResourceType: "fidelis.ledger.v1.Member", ResourceName: "m-7"}},
		{&fault.Error{Kind: fault.KindFailedPrecondition, Msg: "no reason given"}, fault.ReasonFailedPrecondition, nil, nil},
	} {
		st := status.Convert(grpcserver.Status(context.Background(), log, "/m", tc.err))
		var info *errdetails.ErrorInfo
		var res *errdetails.ResourceInfo
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				info = d
			case *errdetails.ResourceInfo:
				res = d
			}
		}
		if info == nil || info.GetReason() != string(tc.reason) || info.GetDomain() != fault.ErrorDomain ||
			(len(tc.meta) > 0 && !reflect.DeepEqual(info.GetMetadata(), tc.meta)) {
			t.Errorf("%v: ErrorInfo %v, want reason %s", tc.err, info, tc.reason)
		}
		if (tc.res == nil) != (res == nil) || (res != nil && (res.GetResourceName() != tc.res.GetResourceName() || res.GetResourceType() != tc.res.GetResourceType())) {
			t.Errorf("%v: ResourceInfo %v, want %v", tc.err, res, tc.res)
		}
	}
}
