package idem_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
)

// The rule, for every kind of fault and for errors that are none.
func TestStorable(t *testing.T) {
	reused := func() error {
		r, _ := idem.NewRequest("M", 1, func(int) any { return "a" })
		rec := r.Record(idem.Key{Caller: "c", Key: "k"}, "", nil, time.Time{})
		rec.Hash = []byte("other")
		return r.Matches(&rec)
	}()
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"a reply", nil, true},
		{"failed precondition", fault.Precondition(fault.InsufficientPoints, "not enough points"), true},
		{"not found", fault.NotFound(fault.MemberNotFound, "no such member"), true},
		{"permission denied", fault.Denied(fault.ProgrammeNotAllowed, "another programme's"), true},
		{"already exists (a duplicate)", fault.Exists(fault.ReasonAlreadyExists, "principal p exists"), true},
		{"a wrapped refusal", fmt.Errorf("ledger: %w", fault.Precondition(fault.HoldExpired, "hold expired")), true},
		{"invalid argument", fault.Invalid("amount", "must be positive"), false},
		{"several invalid fields", fault.InvalidFields([]fault.Violation{{Field: "a", Msg: "x"}, {Field: "b", Msg: "y"}}), false},
		{"unauthenticated", fault.Unauthenticated(fault.ReasonUnauthenticated, "no key"), false},
		{"unavailable", fault.Unavailable(fault.ShuttingDown, "shutting down"), false},
		{"the key reused", reused, false},
		{"deadline exceeded", context.DeadlineExceeded, false},
		{"canceled", fmt.Errorf("call: %w", context.Canceled), false},
		{"a failure", errors.New("connection refused"), false},
		{"a failure wrapping a failure", fmt.Errorf("ledger: %w", errors.New("eof")), false},
	} {
		if got := idem.Storable(c.err); got != c.want {
			t.Errorf("%s: Storable = %v, want %v", c.name, got, c.want)
		}
	}
	if !idem.IsKeyReused(reused) {
		t.Fatalf("IsKeyReused(%v) = false", reused)
	}
	if f, ok := fault.As(reused); !ok || f.Kind != fault.KindAlreadyExists {
		t.Fatalf("the refusal of a reused key is %#v, want an AlreadyExists fault", reused)
	}
}

// Version 1 is the hash the services wrote before forms had versions:
// SHA-256 of method, NUL, the request's JSON.
func TestHashIsMethodNulJSON(t *testing.T) {
	type legacy struct {
		MemberID string
		Points   int64
	}
	type form struct {
		MemberID string `json:"MemberID"`
		Points   int64  `json:"Points"`
	}
	b, _ := json.Marshal(legacy{"m-1", 50})
	want := sha256.Sum256(append([]byte("Burn\x00"), b...))
	r, err := idem.NewRequest("Burn", 1, func(int) any { return form{"m-1", 50} })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Hash, want[:]) {
		t.Fatalf("hash %x, want %x", r.Hash, want)
	}
}

// redeemV1 and redeemV2 are a method's forms before and after its request
// gained a field: the pattern every service follows.
type redeemV1 struct {
	MemberID string `json:"MemberID"`
	RewardID string `json:"RewardID"`
}

type redeemV2 struct {
	MemberID string `json:"member_id"`
	RewardID string `json:"reward_id"`
	Quantity int    `json:"quantity"`
}

type redeemReq struct {
	RewardID, MemberID string
	Quantity           int
}

// Before the change: one version.
func redeemAtV1(q redeemReq) (idem.Request, error) {
	return idem.NewRequest("Redeem", 1, func(int) any { return redeemV1{MemberID: q.MemberID, RewardID: q.RewardID} })
}

// After it: version 2 is current, version 1 stays, so that records written
// before still compare. (A quantity other than 1 did not exist in v1: such
// a request has no v1 form, and is another request than any v1 record.)
func redeemAtV2(q redeemReq) (idem.Request, error) {
	return idem.NewRequest("Redeem", 2, func(v int) any {
		if v == 1 {
			if q.Quantity != 1 {
				return nil
			}
			return redeemV1{MemberID: q.MemberID, RewardID: q.RewardID}
		}
		return redeemV2{MemberID: q.MemberID, RewardID: q.RewardID, Quantity: q.Quantity}
	})
}

func TestARecordOfVersion1ReplaysAfterVersion2(t *testing.T) {
	k := idem.Key{Caller: "pos-1", Key: "checkout-7"}
	old, err := redeemAtV1(redeemReq{MemberID: "m-1", RewardID: "r-1", Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	rec := old.Record(k, "red-1", nil, time.Now())
	if rec.HashVersion != 1 {
		t.Fatalf("written at version %d", rec.HashVersion)
	}

	same, err := redeemAtV2(redeemReq{MemberID: "m-1", RewardID: "r-1", Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(same.Hash, rec.Hash) {
		t.Fatal("version 2 hashes like version 1: the test proves nothing")
	}
	if err := same.Matches(&rec); err != nil {
		t.Fatalf("the same request after version 2: %v", err)
	}
	if nrec := same.Record(k, "", []byte("{}"), time.Now()); nrec.HashVersion != 2 || !bytes.Equal(nrec.Hash, same.Hash) {
		t.Fatalf("a new record is written at version %d", nrec.HashVersion)
	}
	for _, q := range []redeemReq{{MemberID: "m-1", RewardID: "r-2", Quantity: 1}, {MemberID: "m-1", RewardID: "r-1", Quantity: 2}} {
		other, err := redeemAtV2(q)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Matches(&rec); !idem.IsKeyReused(err) {
			t.Fatalf("%+v against the v1 record: %v, want the key refused as reused", q, err)
		}
	}
	// A v2 record met by a replica still at v1 (a rolling deploy): retry.
	v2rec := same.Record(k, "", []byte("{}"), time.Now())
	err = old.Matches(&v2rec)
	if f, ok := fault.As(err); !ok || f.Kind != fault.KindUnavailable || !errors.Is(err, idem.ErrUnknownVersion) {
		t.Fatalf("a record of an unknown version: %v, want Unavailable", err)
	}
}

func TestMatches(t *testing.T) {
	k := idem.Key{Caller: "c", Key: "burn-1"}
	r, _ := idem.NewRequest("Burn", 1, func(int) any { return map[string]int{"points": 100} })
	rec := r.Record(k, "", []byte("{}"), time.Now())
	if err := r.Matches(&rec); err != nil {
		t.Fatal(err)
	}
	other, _ := idem.NewRequest("Burn", 1, func(int) any { return map[string]int{"points": 99} })
	earn, _ := idem.NewRequest("Earn", 1, func(int) any { return map[string]int{"points": 100} })
	for _, x := range []idem.Request{other, earn} {
		err := x.Matches(&rec)
		if !idem.IsKeyReused(err) || idem.Storable(err) {
			t.Fatalf("%s: %v", x.Method, err)
		}
		if want := `idempotency key "burn-1" was already used for a different request`; err.Error() != want {
			t.Fatalf("message %q, want %q", err.Error(), want)
		}
	}
}

type keyReply struct {
	ID     string
	Secret string `json:"-"`
}

// A refusal comes back as it was stored, kind, message and every field
// violation, and encodes to the same bytes again; a reply loses its
// json:"-" fields.
func TestRepliesByteForByte(t *testing.T) {
	refusals := []error{
		fault.Precondition(fault.InsufficientPoints, "insufficient points: %d available", 100),
		fault.NotFound(fault.MemberNotFound, "member %s not found", "m-1"),
		fault.Denied(fault.ProgrammeNotAllowed, "principal p may not act on programme x"),
		fault.Exists(fault.ReasonAlreadyExists, "principal %s already exists", "p"),
		&fault.Error{Kind: fault.KindFailedPrecondition, Field: "terms.stock_total", Msg: "below the issued",
			More: []fault.Violation{{Field: "terms.amount", Msg: "missing"}, {Field: "terms.percent", Msg: "over 100"}}},
	}
	for _, want := range refusals {
		b, err := idem.EncodeReply(nil, fmt.Errorf("wrapped: %w", want))
		if err != nil {
			t.Fatal(err)
		}
		_, got := idem.DecodeReply[*keyReply](b)
		f, ok := fault.As(got)
		if !ok || !reflect.DeepEqual(f, want) || got.Error() != want.Error() {
			t.Fatalf("decoded %#v, want %#v", got, want)
		}
		again, err := idem.EncodeReply(nil, got)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %s, stored %s", again, b)
		}
	}

	b, err := idem.EncodeReply(&keyReply{ID: "fk_1", Secret: "s3cr3t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cr3t") {
		t.Fatalf("the secret is stored: %s", b)
	}
	got, err := idem.DecodeReply[*keyReply](b)
	if err != nil || got.ID != "fk_1" || got.Secret != "" {
		t.Fatalf("decoded %+v %v", got, err)
	}
	again, _ := idem.EncodeReply(got, nil)
	if !bytes.Equal(again, b) {
		t.Fatalf("re-encoded %s, stored %s", again, b)
	}

	for _, err := range []error{fault.Invalid("amount", "bad"), fault.Unavailable(fault.ShuttingDown, "down"), errors.New("eof")} {
		if _, eerr := idem.EncodeReply(nil, err); eerr == nil {
			t.Fatalf("%v was encoded: only replies and business refusals are stored", err)
		}
	}
}

// Records written before the envelope had tags decode as before.
func TestRecordsOfEarlierReleasesDecode(t *testing.T) {
	got, err := idem.DecodeReply[*keyReply]([]byte(`{"Result":{"ID":"fk_1"}}`))
	if err != nil || got.ID != "fk_1" {
		t.Fatalf("result: %+v %v", got, err)
	}
	_, err = idem.DecodeReply[*keyReply]([]byte(`{"Kind":3,"Msg":"insufficient points"}`))
	if f, ok := fault.As(err); !ok || f.Kind != fault.KindFailedPrecondition || f.Msg != "insufficient points" {
		t.Fatalf("refusal: %v", err)
	}
}

func TestRetention(t *testing.T) {
	for _, c := range []struct{ ttl, want time.Duration }{
		{0, 24 * time.Hour},
		{5 * time.Minute, 24 * time.Hour},
		{24 * time.Hour, 48 * time.Hour}, // the ledger's default longest hold
	} {
		if got := idem.Retention(c.ttl); got != c.want {
			t.Errorf("Retention(%s) = %s, want %s", c.ttl, got, c.want)
		}
	}
	if idem.RecoveryWindow >= idem.MinRetention {
		t.Fatalf("recovery window %s reaches the retention %s: recovery could re-send a purged key", idem.RecoveryWindow, idem.MinRetention)
	}
}
