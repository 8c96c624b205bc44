package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

func TestEarnBurnBalance(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		wantBalance(t, env, m, want{})

		e := earnPoints(t, env, m, 100)
		if e.GetEntry().GetKind() != ledgerv1.EntryKind_ENTRY_KIND_EARN || e.GetBalance().GetAvailable() != 100 {
			t.Fatalf("earn reply %v", e)
		}
		p := earnPurchase(t, env, m, "42.90")
		if p.GetEntry().GetPoints() != 42 || p.GetBalance().GetPending() != 42 || p.GetEntry().GetConfigVersion() != 7 {
			t.Fatalf("purchase earn reply %v", p)
		}
		wantBalance(t, env, m, want{available: 100, pending: 42})

		b, err := burn(t, env, m, 30)
		if err != nil {
			t.Fatal(err)
		}
		if b.GetBalance().GetAvailable() != 70 {
			t.Fatalf("burn reply %v", b)
		}
		_, err = burn(t, env, m, 71)
		wantCode(t, err, codes.FailedPrecondition)
		wantBalance(t, env, m, want{available: 70, pending: 42})

		// The return window ends at the end of the 14th day: then the points
		// are available, with a 12-month expiry from their release.
		env.Clock.Advance(15 * 24 * time.Hour)
		bal := wantBalance(t, env, m, want{available: 112})
		if n := len(bal.GetExpiring()); n != 2 {
			t.Fatalf("expiring schedule %v", bal.GetExpiring())
		}

		var kinds []ledgerv1.EntryKind
		for tok := ""; ; {
			page, err := env.Client.ListEntries(ctx(t), &ledgerv1.ListEntriesRequest{MemberId: m, PageSize: 2, PageToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.GetEntries() {
				kinds = append(kinds, e.GetKind())
			}
			if tok = page.GetNextPageToken(); tok == "" {
				break
			}
		}
		wantKinds := []ledgerv1.EntryKind{ledgerv1.EntryKind_ENTRY_KIND_EARN, ledgerv1.EntryKind_ENTRY_KIND_EARN,
			ledgerv1.EntryKind_ENTRY_KIND_BURN, ledgerv1.EntryKind_ENTRY_KIND_PENDING_RELEASE}
		if len(kinds) != len(wantKinds) {
			t.Fatalf("entries %v, want %v", kinds, wantKinds)
		}
		for i := range kinds {
			if kinds[i] != wantKinds[i] {
				t.Fatalf("entries %v, want %v", kinds, wantKinds)
			}
		}
	})
}
