package grpcapi_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

func tierStatus(t *testing.T, env *ledgertest.Env, m string) *ledgerv1.GetTierStatusResponse {
	t.Helper()
	r, err := env.Status.GetTierStatus(ctx(t), &ledgerv1.GetTierStatusRequest{MemberId: m})
	if err != nil {
		t.Fatalf("tier status: %v", err)
	}
	return r
}

func wantTier(t *testing.T, env *ledgertest.Env, m, tier, qualifying string) *ledgerv1.GetTierStatusResponse {
	t.Helper()
	r := tierStatus(t, env, m)
	if r.GetTier() != tier || r.GetQualifyingAmount().GetStatusPoints() != qualifying {
		t.Fatalf("tier %s qualifying %s, want %s %s (%v)", r.GetTier(), r.GetQualifyingAmount(), tier, qualifying, r)
	}
	return r
}

// history reads a member's whole tier history, a page of one at a time
// (so that paging is exercised), as "from>to:cause".
func history(t *testing.T, env *ledgertest.Env, m string) []string {
	t.Helper()
	var out []string
	token := ""
	for {
		r, err := env.Status.ListTierTransitions(ctx(t), &ledgerv1.ListTierTransitionsRequest{MemberId: m, PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range r.GetTransitions() {
			cause := strings.ToLower(strings.TrimPrefix(h.GetCause().String(), "TIER_TRANSITION_CAUSE_"))
			out = append(out, h.GetFromTier()+">"+h.GetToTier()+":"+cause)
		}
		if token = r.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// segmentHistory reads a member's whole segment history.
func segmentHistory(t *testing.T, env *ledgertest.Env, m string) []*ledgerv1.SegmentTransition {
	t.Helper()
	r, err := env.Status.ListSegmentTransitions(ctx(t), &ledgerv1.ListSegmentTransitionsRequest{MemberId: m})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetTransitions()
}

// Tiers are derived from the ledger: purchases upgrade at once, returns
// reduce the qualifying amount, validity ends downgrade one step, a manual
// tier is a floor, and the tier's multiplier prices later purchases.
func TestTiersFromTheLedger(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "tiered")
		earnPurchase(t, env, m, "200.00")
		r := wantTier(t, env, m, "blue", "200")
		if r.GetNextTier() != "silver" || r.GetGapToNext().GetStatusPoints() != "100" || r.GetValidUntil() != nil {
			t.Fatalf("blue outlook: %v", r)
		}
		env.Clock.Advance(day)
		second := earnPurchase(t, env, m, "150.00")
		upgradedAt := env.Clock.Now()
		r = wantTier(t, env, m, "silver", "350")
		if !r.GetSince().AsTime().Equal(upgradedAt) || !r.GetValidUntil().AsTime().Equal(upgradedAt.AddDate(1, 0, 0)) ||
			r.GetMultiplier() != "1.5" || !reflect.DeepEqual(history(t, env, m), []string{"blue>silver:qualified"}) {
			t.Fatalf("silver: %v", r)
		}
		// Silver earns 1.5 points per euro from now on.
		env.Clock.Advance(time.Hour)
		third := earnPurchase(t, env, m, "100.00")
		if e := third.GetEntry(); e.GetPoints() != 150 || e.GetBasePoints() != 100 || e.GetTier() != "silver" {
			t.Fatalf("silver purchase: %v", e)
		}
		// Returning the second purchase takes its points off the qualifying
		// amount, but the tier stays until its validity ends.
		if _, err := env.Client.Reverse(ctx(t), &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: second.GetEntry().GetEntryId(),
			Portion: &ledgerv1.ReverseRequest_Full{Full: true}}); err != nil {
			t.Fatal(err)
		}
		r = wantTier(t, env, m, "silver", "300")
		if r.GetAmountToKeep().GetStatusPoints() != "200" || r.GetBasis() != ledgerv1.TierBasis_TIER_BASIS_STATUS_POINTS {
			t.Fatalf("to keep silver: %s, want 200 (100 of the 300 earned since)", r.GetAmountToKeep())
		}
		// A year on, silver has not been requalified: down one step.
		env.Clock.Advance(366 * day)
		if _, err := evaluateTiers(t, env, &ledgerv1.EvaluateTiersRequest{}); err != nil {
			t.Fatal(err)
		}
		wantTier(t, env, m, "blue", "0")
		if h := history(t, env, m); !reflect.DeepEqual(h, []string{"blue>silver:qualified", "silver>blue:validity_ended"}) {
			t.Fatalf("history %v", h)
		}
		// A manual floor lifts the member at once and holds through expiries.
		fl, err := env.Admin.SetTierFloor(ctx(t), &ledgerv1.SetTierFloorRequest{IdempotencyKey: key(), MemberId: m, Tier: "gold",
			Reason: "VIP"})
		if err != nil {
			t.Fatal(err)
		}
		if fl.GetStatus().GetTier() != "gold" || fl.GetStatus().GetFloorTier() != "gold" ||
			fl.GetEntry().GetKind() != ledgerv1.EntryKind_ENTRY_KIND_TIER_FLOOR || fl.GetEntry().GetOperator() != "test-client" {
			t.Fatalf("floor: %v", fl)
		}
		env.Clock.Advance(800 * day)
		wantTier(t, env, m, "gold", "0")

		_, err = env.Admin.SetTierFloor(ctx(t), &ledgerv1.SetTierFloorRequest{IdempotencyKey: key(), MemberId: m, Tier: "platinum",
			Reason: "x"})
		wantCode(t, err, codes.InvalidArgument)
		other := enrol(t, env, "test")
		_, err = env.Admin.SetTierFloor(ctx(t), &ledgerv1.SetTierFloorRequest{IdempotencyKey: key(), MemberId: other, Tier: "gold",
			Reason: "x"})
		wantCode(t, err, codes.FailedPrecondition)
		_, err = env.Status.GetTierStatus(ctx(t), &ledgerv1.GetTierStatusRequest{MemberId: other})
		wantCode(t, err, codes.FailedPrecondition)
		env.Check(t)
	})
}

func segment(t *testing.T, env *ledgertest.Env, m string) *ledgerv1.GetSegmentResponse {
	t.Helper()
	r, err := env.Status.GetSegment(ctx(t), &ledgerv1.GetSegmentRequest{MemberId: m})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// RFM scores by quintiles over the active members: the member who bought
// most, most often and most recently is a champion, the opposite one lost;
// every change is a transition, and a run that changes nothing records none.
func TestRFMSegments(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		members := make([]string, 10)
		for i := range members {
			members[i] = enrol(t, env, "tiered")
		}
		// Member i buys i+1 times (days i to 2i), for (i+1)*10 EUR each: the
		// higher i, the more, the more often and the more recently.
		for day := 0; day < 20; day++ {
			for i, m := range members {
				if day >= i && day <= 2*i {
					earnPurchase(t, env, m, fmt.Sprintf("%d.00", (i+1)*10))
				}
			}
			env.Clock.Advance(24 * time.Hour)
		}
		run, err := recomputeSegments(t, env, &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "tiered"})
		if err != nil {
			t.Fatal(err)
		}
		if run.GetMembersScored() != 10 || run.GetMembersChanged() != 10 {
			t.Fatalf("run %v", run)
		}
		top, bottom := segment(t, env, members[9]), segment(t, env, members[0])
		if top.GetSegment() != "champions" || top.GetRecency() != 5 || top.GetFrequency() != 5 || top.GetMonetary() != 5 {
			t.Fatalf("top member %v", top)
		}
		if bottom.GetSegment() != "lost" || bottom.GetRecency() != 1 || bottom.GetFrequency() != 1 || bottom.GetMonetary() != 1 {
			t.Fatalf("bottom member %v", bottom)
		}
		if h := segmentHistory(t, env, members[9]); len(h) != 1 || h[0].GetFromSegment() != "" || h[0].GetToSegment() != "champions" ||
			h[0].GetRunId() != run.GetRunId() {
			t.Fatalf("history %v", h)
		}
		again, err := recomputeSegments(t, env, &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "tiered"})
		if err != nil || again.GetMembersChanged() != 0 {
			t.Fatalf("second run %v %v", again, err)
		}
		// Thirteen months without purchases: everyone leaves the window.
		env.Clock.Advance(396 * day)
		gone, err := recomputeSegments(t, env, &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "tiered"})
		if err != nil || gone.GetMembersScored() != 0 || gone.GetMembersChanged() != 10 {
			t.Fatalf("run a year later %v %v", gone, err)
		}
		if s := segment(t, env, members[9]); s.GetSegment() != "inactive" || len(segmentHistory(t, env, members[9])) != 2 {
			t.Fatalf("after a year %v", s)
		}
		_, err = recomputeSegments(t, env, &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "tiered",
			AsOf: timestamppb.New(env.Clock.Now().Add(time.Hour))})
		wantCode(t, err, codes.InvalidArgument)
	})
}

// snapshot reads every projection back, leaving out what a rebuild may
// renumber (stream positions) or restamp (when a row was written).
func snapshot(t *testing.T, db *sqldb.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, q := range map[string]string{
		"status": `SELECT member_id, programme_id, projected_seq, tier, tier_since, tier_valid_until, tier_floor, first_purchase_at,
			last_purchase_at, purchases, spend_micros, r_score, f_score, m_score, segment, segment_since FROM member_status ORDER BY member_id`,
		"purchases":   `SELECT member_id, entry_id, occurred_at, qualifies_at, recorded_at, spend_micros, status_points, points, is_return FROM member_purchases ORDER BY member_id, entry_id`,
		"transitions": `SELECT transition_id, member_id, kind, from_state, to_state, at, cause FROM member_transitions ORDER BY transition_id`,
		"events":      `SELECT event_id, member_id, type, at, entry_id, points, from_state, to_state, detail FROM member_events ORDER BY event_id`,
	} {
		rows, err := db.QueryContext(ctx(t), q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[name] = append(out[name], fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return out
}

// wantRebuildEqual rebuilds the projections and checks they equal
// incremental, a snapshot taken before.
func wantRebuildEqual(t *testing.T, env *ledgertest.Env, db *sqldb.DB, incremental map[string][]string) {
	t.Helper()
	if _, err := rebuildProjections(t, env, &ledgerv1.RebuildProjectionsRequest{}); err != nil {
		t.Fatal(err)
	}
	rebuilt := snapshot(t, db)
	for name, rows := range incremental {
		if !reflect.DeepEqual(rows, rebuilt[name]) {
			t.Fatalf("%s differ after rebuild:\nincremental %v\nrebuilt     %v", name, rows, rebuilt[name])
		}
	}
}

// The projections rebuilt from scratch equal the incremental ones.
func TestRebuildEqualsIncremental(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		a, b, c := enrol(t, env, "tiered"), enrol(t, env, "tiered"), enrol(t, env, "test")
		p1 := earnPurchase(t, env, a, "320.00") // silver
		earnPurchase(t, env, b, "40.00")
		earnPurchase(t, env, c, "75.50")
		tierStatus(t, env, a) // projected now: the next purchase is priced at 1.5
		env.Clock.Advance(10 * day)
		earnPurchase(t, env, a, "700.00") // gold
		if _, err := env.Client.Reverse(ctx(t), &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: p1.GetEntry().GetEntryId(),
			Portion: &ledgerv1.ReverseRequest_Returned{Returned: &typev1.Money{Amount: "120.00", CurrencyCode: "EUR"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := burn(t, env, a, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Admin.SetTierFloor(ctx(t), &ledgerv1.SetTierFloorRequest{IdempotencyKey: key(), MemberId: b, Tier: "silver",
			Reason: "staff"}); err != nil {
			t.Fatal(err)
		}
		if _, err := recomputeSegments(t, env, &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "tiered"}); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(400 * day)
		earnPurchase(t, env, b, "10.00")
		if _, err := evaluateTiers(t, env, &ledgerv1.EvaluateTiersRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := recomputeSegments(t, env, &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "tiered"}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Ledger.Status.Project(ctx(t)); err != nil {
			t.Fatal(err)
		}
		incremental := snapshot(t, db)
		if len(incremental["transitions"]) < 4 || len(incremental["events"]) < 8 {
			t.Fatalf("scenario too thin: %v", incremental)
		}
		wantRebuildEqual(t, env, db, incremental)
	})
}

// fromTheStart starts a stream at its first event.
var fromTheStart = &ledgerv1.WatchEventsRequest_StartTime{StartTime: timestamppb.New(time.Unix(0, 0))}

// watch follows the events of a stream (from its start unless req says
// otherwise), leaving out the checkpoints.
func watch(t *testing.T, env *ledgertest.Env, req *ledgerv1.WatchEventsRequest) (<-chan *ledgerv1.MemberEvent, context.CancelFunc) {
	t.Helper()
	msgs, cancel := watchAll(t, env, req)
	out := make(chan *ledgerv1.MemberEvent, 100)
	go func() {
		defer close(out)
		for m := range msgs {
			if e := m.GetEvent(); e != nil {
				out <- e
			}
		}
	}()
	return out, cancel
}

// watchAll follows every message of a stream: events and checkpoints.
func watchAll(t *testing.T, env *ledgertest.Env, req *ledgerv1.WatchEventsRequest) (<-chan *ledgerv1.WatchEventsResponse, context.CancelFunc) {
	t.Helper()
	if req.GetStart() == nil {
		req.Start = fromTheStart
	}
	c, cancel := context.WithCancel(ctx(t))
	stream, err := env.Status.WatchEvents(c, req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *ledgerv1.WatchEventsResponse, 100)
	go func() {
		defer close(out)
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			out <- r
		}
	}()
	return out, cancel
}

func next(t *testing.T, events <-chan *ledgerv1.MemberEvent) *ledgerv1.MemberEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return nil
}

// WatchEvents follows the stream live, resumes from a cursor, filters by
// type, and keeps event ids stable across a rebuild (at-least-once).
func TestWatchEvents(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "tiered")
		live, stop := watch(t, env, &ledgerv1.WatchEventsRequest{MemberId: m})
		defer stop()
		earn := earnPurchase(t, env, m, "350.00")
		e1 := next(t, live)
		if e1.GetType() != ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_EARNED || e1.GetEntryId() != earn.GetEntry().GetEntryId() || e1.GetPoints() != 350 {
			t.Fatalf("first event %v", e1)
		}
		if e2 := next(t, live); e2.GetType() != ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_TIER_UP || e2.GetToState() != "silver" {
			t.Fatalf("second event %v", e2)
		}
		if _, err := burn(t, env, m, 50); err != nil {
			t.Fatal(err)
		}
		e3 := next(t, live)
		if e3.GetType() != ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_BURNED {
			t.Fatalf("third event %v", e3)
		}
		stop()

		// Resume after the first event, burns only.
		resumed, stop2 := watch(t, env, &ledgerv1.WatchEventsRequest{Start: &ledgerv1.WatchEventsRequest_Cursor{Cursor: e1.GetCursor()},
			Types: []ledgerv1.MemberEventType{ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_BURNED}})
		defer stop2()
		if got := next(t, resumed); got.GetEventId() != e3.GetEventId() {
			t.Fatalf("resumed at %v, want %v", got, e3)
		}
		_, err := mustRecv(env, "not-a-cursor")
		wantCode(t, err, codes.InvalidArgument)

		// A rebuild emits the same facts again, with the same ids, in a new
		// epoch: resuming from a time before it sends them again.
		if err := env.Ledger.Status.Rebuild(ctx(t)); err != nil {
			t.Fatal(err)
		}
		again, stop3 := watch(t, env, &ledgerv1.WatchEventsRequest{
			Start: &ledgerv1.WatchEventsRequest_StartTime{StartTime: e3.GetRecordedTime()}, MemberId: m})
		defer stop3()
		seen := map[string]bool{}
		for range 3 {
			seen[next(t, again).GetEventId()] = true
		}
		if !seen[e1.GetEventId()] || !seen[e3.GetEventId()] {
			t.Fatalf("rebuilt stream ids %v, want %s and %s among them", seen, e1.GetEventId(), e3.GetEventId())
		}
	})
}

func mustRecv(env *ledgertest.Env, cursor string) (*ledgerv1.WatchEventsResponse, error) {
	stream, err := env.Status.WatchEvents(context.Background(), &ledgerv1.WatchEventsRequest{
		Start: &ledgerv1.WatchEventsRequest_Cursor{Cursor: cursor}})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

// The time-driven moments: points about to expire, inactivity, birthdays;
// each announced once however often the job runs.
func TestMoments(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		today := env.Clock.Now().In(env.Cfg.Programmes[1].Location).Format("01-02")
		r, err := env.Client.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "tiered",
			ExternalRef: "card-bday", BirthDate: ymd("1990-" + today)})
		if err != nil {
			t.Fatal(err)
		}
		m := r.GetMember().GetMemberId()
		run := func() int64 {
			t.Helper()
			r, err := runMoments(t, env, &ledgerv1.RunMomentsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetEvents()
		}
		if n := run(); n != 1 {
			t.Fatalf("%d moments on the birthday, want 1", n)
		}
		if n := run(); n != 0 {
			t.Fatalf("birthday announced twice (%d)", n)
		}
		earnPurchase(t, env, m, "80.00") // a lot expiring in 12 months
		env.Clock.Advance(61 * day)
		if n := run(); n != 1 {
			t.Fatalf("%d moments after 61 idle days, want 1 (inactive)", n)
		}
		env.Clock.Advance(290 * day) // the lot expires within 30 days
		if n := run(); n != 1 {
			t.Fatalf("%d moments before expiry, want 1", n)
		}
		if n := run(); n != 0 {
			t.Fatalf("moments announced twice (%d)", n)
		}
		var types []ledgerv1.MemberEventType
		stream, stop := watch(t, env, &ledgerv1.WatchEventsRequest{MemberId: m, Types: []ledgerv1.MemberEventType{
			ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_BIRTHDAY, ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_INACTIVE,
			ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_POINTS_EXPIRING}})
		defer stop()
		for range 3 {
			e := next(t, stream)
			types = append(types, e.GetType())
			if e.GetType() == ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_POINTS_EXPIRING && e.GetPoints() != 80 {
				t.Fatalf("expiring %v", e)
			}
		}
		want := []ledgerv1.MemberEventType{ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_BIRTHDAY,
			ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_INACTIVE, ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_POINTS_EXPIRING}
		if !reflect.DeepEqual(types, want) {
			t.Fatalf("moments %v, want %v", types, want)
		}
	})
}

// Projection runs racing concurrent purchases — which cross tier thresholds
// and so change the tier later purchases are priced at — all succeed, leave
// nothing queued, and project what a rebuild from scratch projects.
func TestProjectionUnderConcurrentEarns(t *testing.T) {
	const members, writers, earnsEach = 24, 6, 30
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		ids := make([]string, members)
		for i := range ids {
			ids[i] = enrol(t, env, "tiered")
		}
		done := make(chan struct{})
		projected := make(chan error, 1)
		go func() {
			var err error
			for err == nil {
				select {
				case <-done:
					projected <- nil
					return
				default:
				}
				_, err = env.Ledger.Status.Project(ctx(t))
			}
			projected <- err
		}()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range earnsEach {
					earnPurchase(t, env, ids[(w*earnsEach+i)%members], fmt.Sprintf("%d.50", 20+(w*7+i*13)%90))
				}
			})
		}
		wg.Wait()
		close(done)
		if err := <-projected; err != nil {
			t.Fatalf("projection during the earns: %v", err)
		}
		if _, err := env.Ledger.Status.Project(ctx(t)); err != nil {
			t.Fatal(err)
		}
		var queued, behind int
		if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM ledger_outbox`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM ledger_members m JOIN member_status s
			ON s.member_id = m.member_id WHERE s.projected_seq <> m.seq`).Scan(&behind); err != nil {
			t.Fatal(err)
		}
		if queued != 0 || behind != 0 {
			t.Fatalf("after projecting: %d entries queued, %d members behind their last entry", queued, behind)
		}
		incremental := snapshot(t, db)
		if n := len(incremental["transitions"]); n < members/2 {
			t.Fatalf("only %d tier transitions: the scenario does not race upgrades", n)
		}
		wantRebuildEqual(t, env, db, incremental)
	})
}

// The projector settles ended tier validities on each of its runs: once
// gold has ended, the next purchase earns at silver's multiplier although
// nobody evaluated tiers or read the member's tier.
func TestProjectorSettlesEndedTiers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "tiered")
		earnPurchase(t, env, m, "1000.00")
		wantTier(t, env, m, "gold", "1000")
		down, stop := watch(t, env, &ledgerv1.WatchEventsRequest{MemberId: m,
			Types: []ledgerv1.MemberEventType{ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_TIER_DOWN}})
		defer stop()
		// A year and a day on, gold has not been requalified. The projector
		// (ledgertest runs it every 50 ms) drops it to silver.
		env.Clock.Advance(366 * day)
		if e := next(t, down); e.GetFromState() != "gold" || e.GetToState() != "silver" {
			t.Fatalf("tier event %v, want gold to silver", e)
		}
		if e := earnPurchase(t, env, m, "100.00").GetEntry(); e.GetTier() != "silver" || e.GetPoints() != 150 || e.GetBasePoints() != 100 {
			t.Fatalf("purchase after gold ended: %v, want silver, 150 points", e)
		}
	})
}

// Returning a purchase in seven parts takes off exactly its status points
// and spend, as a full return does; rounding each part down on its own left
// 4 of the 7 status points of a 7.00 purchase at x1.5.
func TestStepwiseReturnsTakeOffAllStatusPoints(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		stepwise, full := enrol(t, env, "tiered"), enrol(t, env, "tiered")
		for _, m := range []string{stepwise, full} {
			earnPurchase(t, env, m, "300.00")
			wantTier(t, env, m, "silver", "300") // projected: the next purchase is priced at x1.5
			p := earnPurchase(t, env, m, "7.00").GetEntry()
			if p.GetPoints() != 10 || p.GetBasePoints() != 7 {
				t.Fatalf("silver purchase of 7.00: %v", p)
			}
			wantTier(t, env, m, "silver", "307")
			portions := []*ledgerv1.ReverseRequest{{Portion: &ledgerv1.ReverseRequest_Full{Full: true}}}
			if m == stepwise {
				portions = nil
				for range 7 {
					portions = append(portions, &ledgerv1.ReverseRequest{Portion: &ledgerv1.ReverseRequest_Returned{
						Returned: &typev1.Money{Amount: "1.00", CurrencyCode: "EUR"}}})
				}
			}
			for _, r := range portions {
				r.IdempotencyKey, r.EntryId = key(), p.GetEntryId()
				if _, err := env.Client.Reverse(ctx(t), r); err != nil {
					t.Fatal(err)
				}
				// One projection run per return: each rounds over the
				// returns the runs before stored.
				if _, err := env.Ledger.Status.Project(ctx(t)); err != nil {
					t.Fatal(err)
				}
			}
			wantTier(t, env, m, "silver", "300")
			var spend, status int64
			if err := db.QueryRowContext(ctx(t), `SELECT spend_micros FROM member_status WHERE member_id = $1`, m).Scan(&spend); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx(t), `SELECT SUM(status_points) FROM member_purchases WHERE member_id = $1`, m).Scan(&status); err != nil {
				t.Fatal(err)
			}
			if spend != 300_000_000 || status != 300 {
				t.Fatalf("after returning the 7.00 purchase: spend %d micros, %d status points; want 300.00, 300", spend, status)
			}
		}
		wantRebuildEqual(t, env, db, snapshot(t, db))
		env.Check(t)
	})
}

// The scheduler runs expiry: a member nobody touches loses an expired lot
// from the stored balance, and the stream tells.
func TestSchedulerExpiresUntouchedMembers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "tiered")
		earnPoints(t, env, m, 80) // a lot expiring in 12 months
		expired, stop := watch(t, env, &ledgerv1.WatchEventsRequest{MemberId: m,
			Types: []ledgerv1.MemberEventType{ledgerv1.MemberEventType_MEMBER_EVENT_TYPE_EXPIRED}})
		defer stop()
		env.Clock.Advance(400 * day)
		jobs, cancel := context.WithCancel(ctx(t))
		done := make(chan struct{})
		go func() { defer close(done); env.Ledger.RunScheduler(jobs, time.Hour) }() // one pass now
		t.Cleanup(func() { cancel(); <-done })
		if e := next(t, expired); e.GetPoints() != 80 {
			t.Fatalf("expired event %v, want 80 points", e)
		}
		var available int64
		if err := db.QueryRowContext(ctx(t), `SELECT available FROM ledger_members WHERE member_id = $1`, m).Scan(&available); err != nil {
			t.Fatal(err)
		}
		if available != 0 {
			t.Fatalf("stored balance %d after the scheduler, want 0", available)
		}
		env.Check(t)
	})
}

// A server that starts to shut down ends its event streams with
// Unavailable, so a graceful stop does not wait for their clients.
func TestWatchEventsEndsWhenTheServerDrains(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		stream, err := env.Status.WatchEvents(ctx(t), &ledgerv1.WatchEventsRequest{Start: fromTheStart})
		if err != nil {
			t.Fatal(err)
		}
		earnPoints(t, env, enrol(t, env, "test"), 10)
		if _, err := stream.Recv(); err != nil { // the stream is live
			t.Fatal(err)
		}
		env.Ledger.Drain()
		for {
			_, err := stream.Recv()
			if err == nil {
				continue // events appended before the drain
			}
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("after Drain: %v, want Unavailable", err)
			}
			return
		}
	})
}

// The tier and segment histories page, oldest first, with tokens bound to
// the listing and the member.
func TestTransitionHistoriesPage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m, other := enrol(t, env, "tiered"), enrol(t, env, "tiered")
		earnPurchase(t, env, m, "350.00") // blue -> silver
		env.Clock.Advance(time.Hour)
		earnPurchase(t, env, m, "1000.00") // silver -> gold
		earnPurchase(t, env, other, "1.00")
		if _, err := recomputeSegments(t, env, &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "tiered"}); err != nil {
			t.Fatal(err)
		}
		if h := history(t, env, m); !reflect.DeepEqual(h, []string{"blue>silver:qualified", "silver>gold:qualified"}) {
			t.Fatalf("history %v", h)
		}
		first, err := env.Status.ListTierTransitions(ctx(t), &ledgerv1.ListTierTransitionsRequest{MemberId: m, PageSize: 1})
		if err != nil || len(first.GetTransitions()) != 1 || first.GetNextPageToken() == "" {
			t.Fatalf("first page %v, %v", first, err)
		}
		all, err := env.Status.ListTierTransitions(ctx(t), &ledgerv1.ListTierTransitionsRequest{MemberId: m, PageSize: 1 << 30})
		if err != nil || len(all.GetTransitions()) != 2 || all.GetNextPageToken() != "" {
			t.Fatalf("a page size above the maximum is capped, not refused: %v, %v", all, err)
		}
		// The token continues this member's tier history only.
		_, err = env.Status.ListTierTransitions(ctx(t), &ledgerv1.ListTierTransitionsRequest{MemberId: other, PageToken: first.GetNextPageToken()})
		wantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
		_, err = env.Status.ListSegmentTransitions(ctx(t), &ledgerv1.ListSegmentTransitionsRequest{MemberId: m, PageToken: first.GetNextPageToken()})
		wantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
		_, err = env.Status.ListTierTransitions(ctx(t), &ledgerv1.ListTierTransitionsRequest{MemberId: "01a23098-0fbc-7d66-adf4-e56f036959ae"})
		wantReason(t, err, codes.NotFound, "MEMBER_NOT_FOUND")
		if h := segmentHistory(t, env, m); len(h) != 1 || h[0].GetToSegment() == "" || h[0].GetRunId() == "" {
			t.Fatalf("segment history %v", h)
		}
	})
}
