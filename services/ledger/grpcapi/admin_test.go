package grpcapi_test

import (
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

func opMetadata(t testing.TB, op *longrunningpb.Operation) *ledgerv1.OperationMetadata {
	t.Helper()
	var md ledgerv1.OperationMetadata
	if err := op.GetMetadata().UnmarshalTo(&md); err != nil {
		t.Fatal(err)
	}
	return &md
}

func getOperation(t testing.TB, env *ledgertest.Env, name string) *longrunningpb.Operation {
	t.Helper()
	op, err := env.Ops.GetOperation(ctx(t), &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// A start returns an operation at once; polled, it ends with its
// response; a retry with the key returns the same operation and runs
// nothing again; the key with another request is refused.
func TestOperationRunsToItsResponse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 40)
		env.Clock.Advance(400 * day)

		req := &ledgerv1.RunExpiryRequest{IdempotencyKey: "expiry-1", ProgrammeId: "test"}
		op, err := env.Admin.RunExpiry(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if md := opMetadata(t, op); op.GetName() == "" || md.GetMethod() != "RunExpiry" || md.GetProgrammeId() != "test" ||
			md.GetRequestedBy() != "test-client" || md.GetCreateTime() == nil {
			t.Fatalf("started: %v, metadata %v", op, md)
		}
		var run ledgerv1.RunExpiryResponse
		if err := env.Await(ctx(t), op, nil, &run); err != nil {
			t.Fatal(err)
		}
		if run.GetPointsExpired() != 40 || run.GetMembersProcessed() != 1 {
			t.Fatalf("expiry run %v", &run)
		}
		done := getOperation(t, env, op.GetName())
		if md := opMetadata(t, done); !done.GetDone() || md.GetState() != ledgerv1.OperationState_OPERATION_STATE_SUCCEEDED ||
			md.GetProgressPercent() != 100 || md.GetMembersProcessed() != 1 || md.GetEndTime() == nil || done.GetResponse() == nil {
			t.Fatalf("done: %v, metadata %v", done, md)
		}

		again, err := env.Admin.RunExpiry(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if again.GetName() != op.GetName() || !again.GetDone() {
			t.Fatalf("retried start: %v, want the done operation %s", again, op.GetName())
		}
		var same ledgerv1.RunExpiryResponse
		if err := env.Await(ctx(t), again, nil, &same); err != nil || same.GetPointsExpired() != 40 {
			t.Fatalf("retried start's response %v %v", &same, err)
		}
		_, err = env.Admin.RunExpiry(ctx(t), &ledgerv1.RunExpiryRequest{IdempotencyKey: "expiry-1", ProgrammeId: "tiered"})
		wantReason(t, err, codes.AlreadyExists, "IDEMPOTENCY_KEY_REUSED")
		_, err = env.Admin.RunMoments(ctx(t), &ledgerv1.RunMomentsRequest{IdempotencyKey: "expiry-1", ProgrammeId: "test"})
		wantReason(t, err, codes.AlreadyExists, "IDEMPOTENCY_KEY_REUSED")

		list, err := env.Ops.ListOperations(ctx(t), &longrunningpb.ListOperationsRequest{})
		if err != nil || len(list.GetOperations()) != 1 || list.GetOperations()[0].GetName() != op.GetName() {
			t.Fatalf("list %v %v", list, err)
		}
	})
}

// What the start can check at once it refuses itself, and stores the
// refusals the idempotency rule stores; what the work refuses is the
// operation's error.
func TestOperationRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		_, err := env.Admin.RefreshKpis(ctx(t), &ledgerv1.RefreshKpisRequest{IdempotencyKey: key(), ProgrammeId: "nope"})
		wantReason(t, err, codes.NotFound, "PROGRAMME_NOT_FOUND")
		_, err = env.Admin.EvaluateTiers(ctx(t), &ledgerv1.EvaluateTiersRequest{IdempotencyKey: key(),
			AsOf: timestamppb.New(env.Clock.Now().Add(time.Hour))})
		wantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
		_, err = env.Admin.RebuildProjections(ctx(t), &ledgerv1.RebuildProjectionsRequest{})
		wantCode(t, err, codes.InvalidArgument) // the key is required

		// No purchases to fit on: the operation fails with the refusal.
		op, err := env.Admin.FitChurnModel(ctx(t), &ledgerv1.FitChurnModelRequest{IdempotencyKey: key(), ProgrammeId: "tiered",
			CalibrationEnd: timestamppb.New(env.Clock.Now())})
		err = env.Await(ctx(t), op, err, nil)
		wantCode(t, err, codes.FailedPrecondition)
		failed := getOperation(t, env, op.GetName())
		if md := opMetadata(t, failed); md.GetState() != ledgerv1.OperationState_OPERATION_STATE_FAILED || failed.GetError() == nil {
			t.Fatalf("failed operation %v, metadata %v", failed, md)
		}

		_, err = env.Ops.GetOperation(ctx(t), &longrunningpb.GetOperationRequest{Name: "operations/0190a2b4-0000-7000-8000-000000000000"})
		wantReason(t, err, codes.NotFound, "OPERATION_NOT_FOUND")
		_, err = env.Ops.GetOperation(ctx(t), &longrunningpb.GetOperationRequest{Name: "nope"})
		wantCode(t, err, codes.InvalidArgument)
		_, err = env.Ops.DeleteOperation(ctx(t), &longrunningpb.DeleteOperationRequest{Name: op.GetName()})
		wantCode(t, err, codes.Unimplemented)
		// Cancelling an operation that is done changes nothing.
		if _, err := env.Ops.CancelOperation(ctx(t), &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
			t.Fatal(err)
		}
		if md := opMetadata(t, getOperation(t, env, op.GetName())); md.GetState() != ledgerv1.OperationState_OPERATION_STATE_FAILED ||
			md.GetCancelRequested() {
			t.Fatalf("cancelled once done: %v", md)
		}

		// Another principal, not an operator, sees none of them.
		biKey := env.Access.Key(t, "bi-tool", []principal.Role{principal.BI})
		bi := longrunningpb.NewOperationsClient(ledgertest.Dial(t, env.Addr, biKey))
		_, err = bi.GetOperation(ctx(t), &longrunningpb.GetOperationRequest{Name: op.GetName()})
		wantReason(t, err, codes.NotFound, "OPERATION_NOT_FOUND")
		if list, err := bi.ListOperations(ctx(t), &longrunningpb.ListOperationsRequest{}); err != nil || len(list.GetOperations()) != 0 {
			t.Fatalf("bi lists %v %v", list, err)
		}
	})
}

// An operation whose replica stopped beating (it died mid-run) is
// reported done, failed with UNAVAILABLE, OPERATION_ABANDONED, by any
// replica; a retry with its key returns it so; a new key starts anew.
func TestStaleOperationIsFailed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		replica := ledgertest.Start(t, db, ledgertest.Options{Clock: env.Clock, Access: env.Access})
		req := &ledgerv1.RecomputeSegmentsRequest{IdempotencyKey: "rfm-1", ProgrammeId: "tiered"}
		op, err := env.Admin.RecomputeSegments(ctx(t), req)
		if err := env.Await(ctx(t), op, err, nil); err != nil {
			t.Fatal(err)
		}
		// As a replica that died mid-run leaves it: running, its last
		// heartbeat two minutes ago.
		if _, err := db.ExecContext(ctx(t), `UPDATE ledger_operations SET state = 'running', outcome = $1, ended_at = 0, heartbeat_at = $2`,
			[]byte{}, sqldb.Micros(time.Now().Add(-2*time.Minute))); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*ledgertest.Env{env, replica} {
			got := getOperation(t, e, op.GetName())
			if md := opMetadata(t, got); !got.GetDone() || md.GetState() != ledgerv1.OperationState_OPERATION_STATE_FAILED {
				t.Fatalf("stale operation %v, metadata %v", got, md)
			}
			wantReason(t, status.ErrorProto(got.GetError()), codes.Unavailable, "OPERATION_ABANDONED")
		}
		again, err := replica.Admin.RecomputeSegments(ctx(t), req)
		if err != nil || again.GetName() != op.GetName() || again.GetError() == nil {
			t.Fatalf("retried start %v %v", again, err)
		}
		req.IdempotencyKey = "rfm-2"
		fresh, err := replica.Admin.RecomputeSegments(ctx(t), req)
		if err := replica.Await(ctx(t), fresh, err, nil); err != nil || fresh.GetName() == op.GetName() {
			t.Fatalf("a new start: %v %v", fresh, err)
		}
		// Any replica answers for an operation another one runs.
		if got := getOperation(t, env, fresh.GetName()); !got.GetDone() || got.GetResponse() == nil {
			t.Fatalf("the other replica reads %v", got)
		}
		list, err := replica.Ops.ListOperations(ctx(t), &longrunningpb.ListOperationsRequest{PageSize: 1})
		if err != nil || len(list.GetOperations()) != 1 || list.GetOperations()[0].GetName() != fresh.GetName() || list.GetNextPageToken() == "" {
			t.Fatalf("first page %v %v", list, err)
		}
		next, err := replica.Ops.ListOperations(ctx(t), &longrunningpb.ListOperationsRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
		if err != nil || len(next.GetOperations()) != 1 || next.GetOperations()[0].GetName() != op.GetName() || next.GetNextPageToken() != "" {
			t.Fatalf("second page %v %v", next, err)
		}
	})
}

// WaitOperation returns the operation once done.
func TestWaitOperation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		op, err := env.Admin.RebuildProjections(ctx(t), &ledgerv1.RebuildProjectionsRequest{IdempotencyKey: key()})
		if err != nil {
			t.Fatal(err)
		}
		done, err := env.Ops.WaitOperation(ctx(t), &longrunningpb.WaitOperationRequest{Name: op.GetName()})
		if err != nil || !done.GetDone() || done.GetResponse() == nil {
			t.Fatalf("waited: %v %v", done, err)
		}
	})
}

// The administration left the services tills, e-commerce and BI call.
func TestAdministrationIsApart(t *testing.T) {
	moved := map[protoreflect.ServiceDescriptor][]protoreflect.Name{
		ledgerv1.File_fidelis_ledger_v1_ledger_proto.Services().ByName("LedgerService"): {"Adjust", "RunExpiry"},
		ledgerv1.File_fidelis_ledger_v1_status_proto.Services().ByName("StatusService"): {"SetTierFloor", "EvaluateTiers",
			"RecomputeSegments", "RunMoments", "RebuildProjections"},
		ledgerv1.File_fidelis_ledger_v1_kpi_proto.Services().ByName("KpiService"): {"RefreshKpis", "FitChurnModel"},
	}
	admin := ledgerv1.File_fidelis_ledger_v1_admin_proto.Services().ByName("LedgerAdminService")
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		for sd, names := range moved {
			for _, n := range names {
				if sd.Methods().ByName(n) != nil {
					t.Errorf("%s still has %s", sd.FullName(), n)
				}
				if admin.Methods().ByName(n) == nil {
					t.Errorf("LedgerAdminService has no %s", n)
				}
				err := env.Conn.Invoke(ctx(t), "/"+string(sd.FullName())+"/"+string(n), &emptypb.Empty{}, &emptypb.Empty{})
				if c := status.Code(err); c != codes.Unimplemented && c != codes.PermissionDenied {
					t.Errorf("%s/%s answered %v", sd.FullName(), n, err)
				}
			}
		}
	})
}
