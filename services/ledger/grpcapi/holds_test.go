package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// Holds can be read back: one by id, or a member's page by page, all or
// of one status; an active hold past its expiry reads as expired at once.
func TestHoldsCanBeRead(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		c := env.Client
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 100)
		hold := func(points int64, ttl time.Duration) string {
			t.Helper()
			r, err := c.Hold(ctx(t), &ledgerv1.HoldRequest{IdempotencyKey: key(), MemberId: m, Points: points,
				Channel: typev1.Channel_CHANNEL_ECOMMERCE, Reference: "checkout", Ttl: durationpb.New(ttl)})
			if err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(time.Second) // distinct creation times
			return r.GetHold().GetHoldId()
		}
		captured, released, lapsing := hold(10, time.Hour), hold(5, time.Hour), hold(7, time.Minute)
		active := []string{hold(1, time.Hour), hold(2, time.Hour), hold(3, time.Hour)}
		if _, err := c.Capture(ctx(t), &ledgerv1.CaptureRequest{IdempotencyKey: key(), HoldId: captured, Points: 4}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Release(ctx(t), &ledgerv1.ReleaseRequest{IdempotencyKey: key(), HoldId: released}); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(2 * time.Minute) // lapsing expires, unsettled

		get := func(id string) *ledgerv1.PointsHold {
			t.Helper()
			r, err := c.GetHold(ctx(t), &ledgerv1.GetHoldRequest{HoldId: id})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetHold()
		}
		if h := get(captured); h.GetStatus() != ledgerv1.HoldStatus_HOLD_STATUS_CAPTURED || h.GetCaptured() != 4 || h.GetReleased() != 6 ||
			h.GetPoints() != 10 || h.GetMemberId() != m || h.GetReference() != "checkout" || h.GetEntryId() == "" {
			t.Fatalf("captured hold: %v", h)
		}
		if h := get(released); h.GetStatus() != ledgerv1.HoldStatus_HOLD_STATUS_RELEASED || h.GetReleased() != 5 {
			t.Fatalf("released hold: %v", h)
		}
		if h := get(lapsing); h.GetStatus() != ledgerv1.HoldStatus_HOLD_STATUS_EXPIRED || h.GetReleased() != 7 {
			t.Fatalf("hold past its expiry: %v", h)
		}
		if h := get(active[0]); h.GetStatus() != ledgerv1.HoldStatus_HOLD_STATUS_ACTIVE {
			t.Fatalf("active hold: %v", h)
		}

		list := func(status ledgerv1.HoldStatus, size int32) []string {
			t.Helper()
			var ids []string
			req := &ledgerv1.ListHoldsRequest{MemberId: m, Status: status, PageSize: size}
			for {
				r, err := c.ListHolds(ctx(t), req)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.GetHolds()) > int(size) {
					t.Fatalf("page of %d holds, asked for %d", len(r.GetHolds()), size)
				}
				for _, h := range r.GetHolds() {
					if status != ledgerv1.HoldStatus_HOLD_STATUS_UNSPECIFIED && h.GetStatus() != status {
						t.Fatalf("%s listing has %v", status, h)
					}
					ids = append(ids, h.GetHoldId())
				}
				if r.GetNextPageToken() == "" {
					return ids
				}
				req.PageToken = r.GetNextPageToken()
			}
		}
		all := append([]string{captured, released, lapsing}, active...)
		wantIDs(t, "all", list(ledgerv1.HoldStatus_HOLD_STATUS_UNSPECIFIED, 2), all)
		wantIDs(t, "active", list(ledgerv1.HoldStatus_HOLD_STATUS_ACTIVE, 2), active)
		wantIDs(t, "expired", list(ledgerv1.HoldStatus_HOLD_STATUS_EXPIRED, 2), []string{lapsing})
		wantIDs(t, "captured", list(ledgerv1.HoldStatus_HOLD_STATUS_CAPTURED, 2), []string{captured})

		// A token is bound to its member and its status filter.
		r, err := c.ListHolds(ctx(t), &ledgerv1.ListHoldsRequest{MemberId: m, PageSize: 1})
		if err != nil || r.GetNextPageToken() == "" {
			t.Fatalf("first page: %v, %v", r, err)
		}
		_, err = c.ListHolds(ctx(t), &ledgerv1.ListHoldsRequest{MemberId: m, Status: ledgerv1.HoldStatus_HOLD_STATUS_ACTIVE, PageToken: r.GetNextPageToken()})
		wantField(t, err, "page_token")
		other := enrol(t, env, "test")
		_, err = c.ListHolds(ctx(t), &ledgerv1.ListHoldsRequest{MemberId: other, PageToken: r.GetNextPageToken()})
		wantField(t, err, "page_token")

		// Another programme's principal reads neither.
		k := env.Access.Key(t, "pos-strict", []principal.Role{principal.POS}, "strict")
		strict := ledgerv1.NewLedgerServiceClient(ledgertest.Dial(t, env.Addr, k))
		_, err = strict.GetHold(ctx(t), &ledgerv1.GetHoldRequest{HoldId: captured})
		wantReason(t, err, codes.PermissionDenied, "PROGRAMME_NOT_ALLOWED")
		_, err = strict.ListHolds(ctx(t), &ledgerv1.ListHoldsRequest{MemberId: m})
		wantReason(t, err, codes.PermissionDenied, "PROGRAMME_NOT_ALLOWED")
		// Nor a role that may not read members' points.
		bi := env.Access.Key(t, "bi", []principal.Role{principal.BI}, "test")
		_, err = ledgerv1.NewLedgerServiceClient(ledgertest.Dial(t, env.Addr, bi)).GetHold(ctx(t), &ledgerv1.GetHoldRequest{HoldId: captured})
		wantReason(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	})
}

// ListEntries pages with tokens bound to the member, and caps, not
// refuses, a page size above the maximum (500).
func TestListEntriesPaging(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		c := env.Client
		a, b := enrol(t, env, "test"), enrol(t, env, "test")
		for range 3 {
			earnPoints(t, env, a, 1)
			earnPoints(t, env, b, 1)
		}
		r, err := c.ListEntries(ctx(t), &ledgerv1.ListEntriesRequest{MemberId: a, PageSize: 2})
		if err != nil || len(r.GetEntries()) != 2 || r.GetNextPageToken() == "" {
			t.Fatalf("first page of a: %v, %v", r, err)
		}
		_, err = c.ListEntries(ctx(t), &ledgerv1.ListEntriesRequest{MemberId: b, PageToken: r.GetNextPageToken()})
		wantField(t, err, "page_token")
		rest, err := c.ListEntries(ctx(t), &ledgerv1.ListEntriesRequest{MemberId: a, PageSize: 2, PageToken: r.GetNextPageToken()})
		if err != nil || len(rest.GetEntries()) != 1 || rest.GetNextPageToken() != "" || rest.GetEntries()[0].GetSequence() != 3 {
			t.Fatalf("second page of a: %v, %v", rest, err)
		}

		for range 500 {
			earnPoints(t, env, b, 1)
		}
		big, err := c.ListEntries(ctx(t), &ledgerv1.ListEntriesRequest{MemberId: b, PageSize: 10_000})
		if err != nil {
			t.Fatalf("a page size above the maximum: %v, want it capped", err)
		}
		if len(big.GetEntries()) != 500 || big.GetNextPageToken() == "" {
			t.Fatalf("page of %d entries (next %q), want the maximum, 500, and a next page", len(big.GetEntries()), big.GetNextPageToken())
		}
	})
}

func wantIDs(t testing.TB, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

// wantField fails the test unless err is INVALID_ARGUMENT naming field.
func wantField(t testing.TB, err error, field string) {
	t.Helper()
	st := wantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if !namesField(st, field) {
		t.Fatalf("%v does not name field %s", err, field)
	}
}
