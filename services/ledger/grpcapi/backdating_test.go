package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// A till may date a purchase or an enrolment back by the programme's
// window (30 days by default: a POS offline for weeks), the import role by
// the import window (ten years); older, or in the future, is
// INVALID_ARGUMENT on the field, and nothing is written.
func TestBackdatingWindow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		now := env.Clock.Now()
		pos := ledgerv1.NewLedgerServiceClient(ledgertest.Dial(t, env.Addr, env.Access.Key(t, "till", []principal.Role{principal.POS})))
		importer := ledgerv1.NewLedgerServiceClient(ledgertest.Dial(t, env.Addr, env.Access.Key(t, "importer", []principal.Role{principal.Import})))
		m := enrol(t, env, "test")
		earn := func(c ledgerv1.LedgerServiceClient, at time.Time) error {
			_, err := c.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
				Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "10", CurrencyCode: "EUR"}}, OccurredAt: timestamppb.New(at)})
			return err
		}
		day := 24 * time.Hour
		for _, tc := range []struct {
			name string
			c    ledgerv1.LedgerServiceClient
			at   time.Time
			ok   bool
		}{
			{"till, 20 days back", pos, now.Add(-20 * day), true},
			{"till, 40 days back", pos, now.Add(-40 * day), false},
			{"till, decades back", pos, now.AddDate(-30, 0, 0), false},
			{"till, an hour ahead", pos, now.Add(time.Hour), false},
			{"import, 5 years back", importer, now.AddDate(-5, 0, 0), true},
			{"import, 11 years back", importer, now.AddDate(-11, 0, 0), false},
		} {
			err := earn(tc.c, tc.at)
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s: %v", tc.name, err)
			case !tc.ok:
				st := wantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
				if v := fieldViolations(st); len(v) != 1 || v[0] != "occurred_at" {
					t.Errorf("%s: violations %v, want occurred_at", tc.name, v)
				}
			}
		}
		_, err := pos.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-old",
			EnrolledAt: timestamppb.New(time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC))})
		wantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
		if _, err := importer.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-2019",
			EnrolledAt: timestamppb.New(now.AddDate(-7, 0, 0))}); err != nil {
			t.Errorf("import of a member enrolled 7 years ago: %v", err)
		}
		env.Check(t)
	})
}

// fieldViolations are the fields a status's BadRequest names.
func fieldViolations(st *status.Status) []string {
	var fs []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fs = append(fs, v.GetField())
			}
		}
	}
	return fs
}
