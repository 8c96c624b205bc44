package grpcserver

import (
	"context"
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
)

// What no field may hold is refused, with the field's path; what any
// field may hold passes.
func TestSanitize(t *testing.T) {
	const member = "01a23098-0fbc-7d66-adf4-e56f036959ae"
	for _, tc := range []struct {
		name   string
		req    proto.Message
		fields []string
	}{
		{"fine", &ledgerv1.EarnRequest{IdempotencyKey: "k-1", MemberId: member, Reason: "goodwill\nline two", OrderRef: "A-1",
			OccurredAt: timestamppb.New(timestamppb.Now().AsTime())}, nil},
		{"NUL in free text", &ledgerv1.EarnRequest{IdempotencyKey: "k", Reason: "a\x00b"}, []string{"reason"}},
		{"NUL in an id", &ledgerv1.EarnRequest{IdempotencyKey: "k\x00"}, []string{"idempotency_key"}},
		{"control character in a ref", &ledgerv1.EarnRequest{IdempotencyKey: "k", OrderRef: "A\x1b[31m"}, []string{"order_ref"}},
		{"blank ref", &ledgerv1.EnrolMemberRequest{IdempotencyKey: "k", ExternalRef: "   "}, []string{"external_ref"}},
		{"tab-only key", &ledgerv1.EarnRequest{IdempotencyKey: "\t"}, []string{"idempotency_key"}},
		{"nil UUID", &ledgerv1.EarnRequest{IdempotencyKey: "k", MemberId: nilUUID}, []string{"member_id"}},
		{"year 0", &ledgerv1.EarnRequest{IdempotencyKey: "k", OccurredAt: &timestamppb.Timestamp{Seconds: -62135596801}}, []string{"occurred_at"}},
		{"the zero time", &ledgerv1.EarnRequest{IdempotencyKey: "k", OccurredAt: &timestamppb.Timestamp{Seconds: -62135596800}}, []string{"occurred_at"}},
		{"year 10000", &ledgerv1.EarnRequest{IdempotencyKey: "k", OccurredAt: &timestamppb.Timestamp{Seconds: 253402300800}}, []string{"occurred_at"}},
		{"nanos out of range", &ledgerv1.EarnRequest{IdempotencyKey: "k", OccurredAt: &timestamppb.Timestamp{Nanos: 1_000_000_000}}, []string{"occurred_at"}},
		{"duration nanos against its sign", &ledgerv1.HoldRequest{IdempotencyKey: "k", Ttl: &durationpb.Duration{Seconds: 1, Nanos: -1}}, []string{"ttl"}},
		{"duration nanos out of range", &ledgerv1.HoldRequest{IdempotencyKey: "k", Ttl: &durationpb.Duration{Nanos: 2_000_000_000}}, []string{"ttl"}},
		{"nested and repeated", &rewardsv1.CreateRewardRequest{IdempotencyKey: "k",
			Terms: &rewardsv1.RewardTerms{Name: "x\x00", StoreIds: []string{"s-1", "s\x002"}}}, []string{"terms.name", "terms.store_ids[1]"}},
	} {
		var got []string
		for _, v := range sanitize(tc.req.ProtoReflect()) {
			got = append(got, v.Field)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.fields) {
			t.Errorf("%s: refused %v, want %v", tc.name, got, tc.fields)
		}
	}
}

// No input makes sanitize panic, and what it passes has no NUL byte in
// any string it reached.
func FuzzSanitize(f *testing.F) {
	seed, _ := proto.Marshal(&ledgerv1.EarnRequest{IdempotencyKey: "k", Reason: "r", OccurredAt: timestamppb.Now()})
	f.Add(seed)
	f.Add([]byte{0x0a, 0x02, 'a', 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req ledgerv1.EarnRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		vs := sanitize(req.ProtoReflect())
		if len(vs) == 0 && (slices.Contains([]byte(req.GetReason()), 0) || slices.Contains([]byte(req.GetIdempotencyKey()), 0)) {
			t.Fatalf("a NUL byte passed: %q", b)
		}
	})
}

// A request that did not decode is forgotten when its call ends, whether
// or not the validation interceptor saw it (the guard may refuse first).
func TestUndecodableForgotten(t *testing.T) {
	c := newLenientCodec()
	req := &ledgerv1.EarnRequest{}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0xff, 0xff})}, req); err != nil {
		t.Fatal(err)
	}
	refused := func(context.Context, any) (any, error) { return nil, errors.New("unauthenticated") }
	if _, err := c.forgetUnary(context.Background(), req, nil, refused); err == nil {
		t.Fatal("the handler's error was lost")
	}
	if _, bad := c.undecodable(req); bad {
		t.Fatal("the mark outlived its call")
	}
}
