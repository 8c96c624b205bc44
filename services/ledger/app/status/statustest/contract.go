package statustest

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/storetest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting/postingtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Contract states what any status.Store must do. open returns stores of
// their own over an empty database for each subtest.
func Contract(t *testing.T, open func(t *testing.T) Stores) {
	t.Run("StreamHead", func(t *testing.T) { streamHead(t, open(t)) })
	t.Run("EventFilters", func(t *testing.T) { eventFilters(t, open(t)) })
	t.Run("SaveStatusFailsWhole", func(t *testing.T) { saveStatusFailsWhole(t, open(t)) })
	t.Run("StatusesAndPurchases", func(t *testing.T) { statusesAndPurchases(t, open(t)) })
	t.Run("OutboxAndEntriesAfter", func(t *testing.T) { outboxAndEntriesAfter(t, open(t)) })
	// In chunks of one member or event position, and in one chunk: the
	// same result.
	t.Run("ResetProjections", func(t *testing.T) { resetProjections(t, open(t), 1) })
	t.Run("ResetProjectionsOneChunk", func(t *testing.T) { resetProjections(t, open(t), 1000) })
	t.Run("TierDue", func(t *testing.T) { tierDue(t, open(t)) })
	t.Run("Transitions", func(t *testing.T) { transitions(t, open(t)) })
	t.Run("RFMRunsAndInputs", func(t *testing.T) { rfmRunsAndInputs(t, open(t)) })
	t.Run("Expiring", func(t *testing.T) { expiring(t, open(t)) })
	t.Run("Inactive", func(t *testing.T) { inactive(t, open(t)) })
	t.Run("BirthdaysAndProjectedTier", func(t *testing.T) { birthdaysAndProjectedTier(t, open(t)) })
}

var t0 = postingtest.T0

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

func event(id, member, programme, typ string, at time.Time) domain.MemberEvent {
	return domain.MemberEvent{EventID: id, MemberID: member, ProgrammeID: programme, Type: typ, At: at,
		EntryID: "entry-" + id, Points: int64(len(id)), From: "from-" + id, To: "to-" + id, Detail: "detail of " + id}
}

func head(t testing.TB, s status.Store) int64 {
	t.Helper()
	var h int64
	Update(t, s, func(ctx context.Context, tx status.ProjectionTx) error {
		var err error
		h, err = tx.LockStream(ctx)
		return err
	})
	return h
}

func events(t testing.TB, s status.Store, after int64, f status.EventFilter, limit int) []status.StreamEvent {
	t.Helper()
	return eventsUpTo(t, s, after, math.MaxInt64, f, limit)
}

func eventsUpTo(t testing.TB, s status.Store, after, upTo int64, f status.EventFilter, limit int) []status.StreamEvent {
	t.Helper()
	var out []status.StreamEvent
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		var err error
		out, err = tx.Events(ctx, after, upTo, f, limit)
		return err
	})
	return out
}

func streamHeadOf(t testing.TB, s status.Store) status.StreamHead {
	t.Helper()
	var h status.StreamHead
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		var err error
		h, err = tx.StreamHead(ctx)
		return err
	})
	return h
}

func firstRecorded(t testing.TB, s status.Store, at time.Time) int64 {
	t.Helper()
	var pos int64
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		var err error
		pos, err = tx.FirstEventRecorded(ctx, at)
		return err
	})
	return pos
}

func known(t testing.TB, s status.Store, ids ...string) map[string]bool {
	t.Helper()
	var out map[string]bool
	Update(t, s, func(ctx context.Context, tx status.ProjectionTx) error {
		var err error
		out, err = tx.KnownEvents(ctx, ids)
		return err
	})
	for id, ok := range out {
		if !ok {
			delete(out, id)
		}
	}
	return out
}

// The stream head starts at 0 and advances by the events saved after it;
// events read back at the positions after the head they were saved
// after, in order, recorded at the writes' time; KnownEvents tells which
// ids the stream holds.
func streamHead(t *testing.T, st Stores) {
	s := st.Status
	if h := head(t, s); h != 0 {
		t.Fatalf("LockStream of an empty stream = %d, want 0", h)
	}
	storetest.Check(t, "StreamHead of an empty stream", streamHeadOf(t, s), status.StreamHead{Epoch: 1})
	if p := firstRecorded(t, s, day(0)); p != 0 {
		t.Errorf("FirstEventRecorded of an empty stream = %d", p)
	}
	e1, e2, e3 := event("e1", "m1", "p", domain.EventEarned, day(1)), event("e2", "m2", "p", domain.EventBurned, day(2)),
		event("e3", "m1", "q", domain.EventTierUp, day(3))
	Save(t, s, &status.StatusWrites{Events: []domain.MemberEvent{e1, e2}, At: day(4)})
	if h := head(t, s); h != 2 {
		t.Fatalf("head after 2 events = %d", h)
	}
	Save(t, s, &status.StatusWrites{Events: []domain.MemberEvent{e3}, At: day(5)})
	Save(t, s, &status.StatusWrites{At: day(6)}) // no events
	if h := head(t, s); h != 3 {
		t.Fatalf("head after 3 events = %d", h)
	}
	all := []status.StreamEvent{{Position: 1, MemberEvent: e1, RecordedAt: day(4)}, {Position: 2, MemberEvent: e2, RecordedAt: day(4)},
		{Position: 3, MemberEvent: e3, RecordedAt: day(5)}}
	storetest.Check(t, "Events(0)", events(t, s, 0, status.EventFilter{}, 10), all)
	storetest.Check(t, "Events(1, limit 1)", events(t, s, 1, status.EventFilter{}, 1), all[1:2])
	storetest.Check(t, "Events(3)", events(t, s, 3, status.EventFilter{}, 10), []status.StreamEvent(nil))
	storetest.Check(t, "Events(0, up to 2)", eventsUpTo(t, s, 0, 2, status.EventFilter{}, 10), all[:2])
	storetest.Check(t, "StreamHead", streamHeadOf(t, s), status.StreamHead{Epoch: 1, Position: 3})
	for _, c := range []struct {
		at   time.Time
		want int64
	}{{day(0), 1}, {day(4), 1}, {day(4).Add(time.Microsecond), 3}, {day(5), 3}, {day(5).Add(time.Microsecond), 0}} {
		if got := firstRecorded(t, s, c.at); got != c.want {
			t.Errorf("FirstEventRecorded(%s) = %d, want %d", c.at.Format(time.RFC3339Nano), got, c.want)
		}
	}
	storetest.Check(t, "KnownEvents", known(t, s, "e1", "e3", "e4"), map[string]bool{"e1": true, "e3": true})
}

// Events keeps, in position order, the events of the given types, of the
// programme or programmes, of the member, after a position, at most limit.
func eventFilters(t *testing.T, st Stores) {
	s := st.Status
	es := []domain.MemberEvent{
		event("e1", "m1", "p", domain.EventEarned, day(1)),
		event("e2", "m2", "p", domain.EventBurned, day(1)),
		event("e3", "m3", "q", domain.EventEarned, day(1)),
		event("e4", "m1", "p", domain.EventTierUp, day(1)),
	}
	Save(t, s, &status.StatusWrites{Events: es, At: day(2)})
	more := []domain.MemberEvent{
		event("e5", "m4", "r", domain.EventEarned, day(2)),
		event("e6", "m2", "p", domain.EventEarned, day(2)),
		event("e7", "m3", "q", domain.EventBurned, day(2)),
		event("e8", "m1", "p", domain.EventBurned, day(2)),
	}
	Save(t, s, &status.StatusWrites{Events: more, At: day(3)})
	all := events(t, s, 0, status.EventFilter{}, 100)
	if len(all) != 8 {
		t.Fatalf("Events(0) = %s", storetest.Show(all))
	}
	at := func(positions ...int64) []status.StreamEvent {
		var out []status.StreamEvent
		for _, p := range positions {
			out = append(out, all[p-1])
		}
		return out
	}
	for _, c := range []struct {
		after int64
		f     status.EventFilter
		limit int
		want  []status.StreamEvent
	}{
		{0, status.EventFilter{Types: []string{domain.EventEarned}}, 100, at(1, 3, 5, 6)},
		{0, status.EventFilter{Types: []string{domain.EventEarned, domain.EventBurned}}, 100, at(1, 2, 3, 5, 6, 7, 8)},
		{0, status.EventFilter{ProgrammeID: "q"}, 100, at(3, 7)},
		{0, status.EventFilter{Programmes: []string{"p", "r"}}, 100, at(1, 2, 4, 5, 6, 8)},
		{0, status.EventFilter{Programmes: []string{"q"}, Types: []string{domain.EventBurned}}, 100, at(7)},
		{0, status.EventFilter{MemberID: "m1"}, 100, at(1, 4, 8)},
		{0, status.EventFilter{ProgrammeID: "p", MemberID: "m2", Types: []string{domain.EventEarned}}, 100, at(6)},
		{0, status.EventFilter{ProgrammeID: "s"}, 100, nil},
		{4, status.EventFilter{}, 2, at(5, 6)},
		{2, status.EventFilter{ProgrammeID: "p"}, 2, at(4, 6)},
	} {
		storetest.Check(t, fmt.Sprintf("Events(%d, %+v, %d)", c.after, c.f, c.limit), events(t, s, c.after, c.f, c.limit), c.want)
	}
	for i, e := range all {
		if e.Position != int64(i+1) {
			t.Errorf("event %s at position %d, want %d", e.EventID, e.Position, i+1)
		}
	}
}

// A SaveStatus that fails (an event id the stream holds) fails its
// transaction whole: the head, statuses and outbox are as before.
func saveStatusFailsWhole(t *testing.T, st Stores) {
	s := st.Status
	l := postingtest.NewLedger(t, st.Posting)
	l.Enrol(domain.Member{ID: "m1", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: t0})
	earn := l.Do("m1", postingtest.Earn(10, t0))[0]
	Save(t, s, &status.StatusWrites{Events: []domain.MemberEvent{event("e1", "m1", "p", domain.EventEarned, day(1))}, At: day(1)})
	err := s.UpdateProjections(context.Background(), func(ctx context.Context, tx status.ProjectionTx) error {
		h, err := tx.LockStream(ctx)
		if err != nil {
			return err
		}
		return tx.SaveStatus(ctx, &status.StatusWrites{
			Head:        h,
			NewStatuses: []*domain.MemberStatus{{MemberID: "m1", ProgrammeID: "p", ProjectedSeq: 1}},
			Events:      []domain.MemberEvent{event("e2", "m1", "p", domain.EventEarned, day(2)), event("e1", "m1", "p", domain.EventEarned, day(2))},
			Projected:   []string{earn.ID},
			At:          day(2),
		})
	})
	if err == nil {
		t.Fatal("saving an event id the stream holds succeeded")
	}
	if h := head(t, s); h != 1 {
		t.Errorf("head = %d after a failed save, want 1", h)
	}
	storetest.Check(t, "KnownEvents", known(t, s, "e1", "e2"), map[string]bool{"e1": true})
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		sts, err := tx.Statuses(ctx, []string{"m1"})
		if err != nil {
			return err
		}
		storetest.Check(t, "Statuses", sts, map[string]*domain.MemberStatus{})
		ids, err := tx.OutboxMembers(ctx, 10)
		if err != nil {
			return err
		}
		storetest.Check(t, "OutboxMembers", ids, []string{"m1"})
		return nil
	})
}

// Statuses and purchases read back as saved, in either kind of
// transaction; a member's purchases in the order they were recorded;
// StatusesPage pages a programme's statuses in member id order.
func statusesAndPurchases(t *testing.T, st Stores) {
	s := st.Status
	l := postingtest.NewLedger(t, st.Posting)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: t0})
	l.Enrol(domain.Member{ID: "m-b", ProgrammeID: "p", ExternalRef: "card-2", EnrolledAt: t0})
	l.Enrol(domain.Member{ID: "m-c", ProgrammeID: "q", ExternalRef: "card-3", EnrolledAt: t0})
	first := l.Do("m-a", postingtest.Purchase("30", domain.ChannelPOS, day(0)))[0]
	l.Do("m-a", postingtest.Purchase("20.50", domain.ChannelEcommerce, day(1)))
	l.Do("m-a", postingtest.Reverse(l, first, domain.Portion{Returned: &money.Money{Amount: postingtest.Dec("10"), Currency: "EUR"}},
		domain.ChannelPOS, day(2)))
	l.Do("m-a", postingtest.Earn(5, day(3)))
	l.Do("m-b", postingtest.Earn(5, day(0)))
	l.Do("m-c", postingtest.Purchase("7", domain.ChannelPOS, day(0)))
	entries := append(append(l.Entries("m-a"), l.Entries("m-b")...), l.Entries("m-c")...)
	books := Project(t, s, l.Cfg, day(4), entries...)
	a, b, c := books["m-a"], books["m-b"], books["m-c"]
	if len(a.Purchases) != 3 || a.Status.Purchases != 2 || len(b.Purchases) != 0 || a.Status.ProjectedSeq != 4 {
		t.Fatalf("fixture: %s", storetest.Show(a))
	}
	check := func(what string, want map[string]*domain.MemberStatus, purchases map[string][]domain.Purchase) {
		t.Helper()
		reads := func(ctx context.Context, tx interface {
			Statuses(ctx context.Context, memberIDs []string) (map[string]*domain.MemberStatus, error)
			Purchases(ctx context.Context, memberIDs []string) (map[string][]domain.Purchase, error)
		}) error {
			got, err := tx.Statuses(ctx, []string{"m-a", "m-b", "m-c", "m-none"})
			if err != nil {
				return err
			}
			storetest.Check(t, what+": Statuses", got, want)
			ps, err := tx.Purchases(ctx, []string{"m-a", "m-b", "m-none"})
			if err != nil {
				return err
			}
			for _, id := range []string{"m-a", "m-b", "m-none"} {
				storetest.Check(t, what+": Purchases of "+id, ps[id], purchases[id])
			}
			return nil
		}
		View(t, s, func(ctx context.Context, tx status.Reader) error { return reads(ctx, tx) })
		Update(t, s, func(ctx context.Context, tx status.ProjectionTx) error { return reads(ctx, tx) })
	}
	check("projected", map[string]*domain.MemberStatus{"m-a": &a.Status, "m-b": &b.Status, "m-c": &c.Status},
		map[string][]domain.Purchase{"m-a": a.Purchases})

	Update(t, s, func(ctx context.Context, tx status.ProjectionTx) error {
		for _, p := range []struct {
			after string
			limit int
			want  []*domain.MemberStatus
		}{
			{"", 10, []*domain.MemberStatus{&a.Status, &b.Status}},
			{"m-a", 10, []*domain.MemberStatus{&b.Status}},
			{"", 1, []*domain.MemberStatus{&a.Status}},
			{"m-b", 10, nil},
		} {
			got, err := tx.StatusesPage(ctx, "p", p.after, p.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("StatusesPage(p, %q, %d)", p.after, p.limit), got, p.want)
		}
		got, err := tx.StatusesPage(ctx, "r", "", 10)
		if err != nil {
			return err
		}
		storetest.Check(t, "StatusesPage(r)", got, []*domain.MemberStatus(nil))
		cs, err := tx.Clawbacks(ctx, first.ID)
		if err != nil {
			return err
		}
		postingtest.CheckEntries(t, "Clawbacks", cs, l.Clawbacks(first.ID))
		return nil
	})

	// Every field of a status is updated; purchases are added.
	upd := a.Status
	upd.ProgrammeID, upd.ProjectedSeq, upd.Tier, upd.TierSince, upd.TierValidUntil, upd.TierFloor = "q", 9, "silver", day(5), day(400), "gold"
	upd.FirstPurchase, upd.LastPurchase, upd.Purchases, upd.SpendMicros = day(-1), day(6), 7, 123_456_789
	upd.R, upd.F, upd.M, upd.Segment, upd.SegmentSince = 5, 4, 3, "champions", day(6)
	late := domain.Purchase{EntryID: "a-late", OccurredAt: day(6), QualifiesAt: day(6), RecordedAt: day(6), SpendMicros: 1_000_000, StatusPoints: 1, Points: 1}
	early := domain.Purchase{EntryID: "z-early", Return: true, OccurredAt: day(-2), QualifiesAt: day(-3), RecordedAt: day(-1),
		SpendMicros: -2_000_000, StatusPoints: -2, Points: -2}
	Save(t, s, &status.StatusWrites{Statuses: []*domain.MemberStatus{&upd}, At: day(6), Purchases: []status.MemberPurchase{
		{MemberID: "m-a", ProgrammeID: "p", Purchase: late}, {MemberID: "m-a", ProgrammeID: "p", Purchase: early}}})
	check("updated", map[string]*domain.MemberStatus{"m-a": &upd, "m-b": &b.Status, "m-c": &c.Status},
		map[string][]domain.Purchase{"m-a": append([]domain.Purchase{early}, append(a.Purchases, late)...)})
}

// groupByMember splits entries by member, keeping their order.
func groupByMember(es []*domain.Entry) map[string][]*domain.Entry {
	out := map[string][]*domain.Entry{}
	for _, e := range es {
		out[e.MemberID] = append(out[e.MemberID], e)
	}
	return out
}

// OutboxMembers returns the members with entries not yet projected,
// oldest queued entry first, at most limit; EntriesAfter a member's
// entries after a sequence number, in sequence order; SaveStatus's
// Projected takes entries off the queue.
func outboxAndEntriesAfter(t *testing.T, st Stores) {
	s := st.Status
	l := postingtest.NewLedger(t, st.Posting)
	for _, id := range []string{"m-a", "m-b", "m-c"} {
		l.Enrol(domain.Member{ID: id, ProgrammeID: "p", ExternalRef: "card-" + id, EnrolledAt: t0})
	}
	l.Do("m-a", postingtest.Earn(10, t0))
	l.Do("m-a", postingtest.Earn(20, t0.Add(time.Minute)))
	l.Do("m-b", postingtest.Earn(5, t0.Add(2*time.Minute)))
	l.Do("m-c", postingtest.Earn(1, t0.Add(3*time.Minute)))
	l.Do("m-a", postingtest.Earn(3, t0.Add(4*time.Minute)))
	outbox := func(limit int) []string {
		t.Helper()
		var ids []string
		View(t, s, func(ctx context.Context, tx status.Reader) error {
			var err error
			ids, err = tx.OutboxMembers(ctx, limit)
			return err
		})
		return ids
	}
	storetest.Check(t, "OutboxMembers(10)", outbox(10), []string{"m-a", "m-b", "m-c"})
	storetest.Check(t, "OutboxMembers(2)", outbox(2), []string{"m-a", "m-b"})
	storetest.Check(t, "OutboxMembers(1)", outbox(1), []string{"m-a"})

	a := l.Entries("m-a")
	Update(t, s, func(ctx context.Context, tx status.ProjectionTx) error {
		for _, c := range []struct {
			after map[string]int64
			want  map[string][]*domain.Entry
		}{
			{map[string]int64{"m-a": 0, "m-b": 0}, map[string][]*domain.Entry{"m-a": a, "m-b": l.Entries("m-b")}},
			{map[string]int64{"m-a": 2, "m-c": 0, "m-none": 0}, map[string][]*domain.Entry{"m-a": a[2:], "m-c": l.Entries("m-c")}},
			{map[string]int64{"m-a": 3, "m-b": 1}, map[string][]*domain.Entry{}},
			{map[string]int64{}, map[string][]*domain.Entry{}},
		} {
			got, err := tx.EntriesAfter(ctx, c.after)
			if err != nil {
				return err
			}
			byMember := groupByMember(got)
			storetest.Check(t, fmt.Sprintf("EntriesAfter(%v) members", c.after), slices.Sorted(maps.Keys(byMember)),
				slices.Sorted(maps.Keys(c.want)))
			for m, want := range c.want {
				postingtest.CheckEntries(t, fmt.Sprintf("EntriesAfter(%v) of %s", c.after, m), byMember[m], want)
			}
		}
		return nil
	})

	Save(t, s, &status.StatusWrites{Projected: []string{a[0].ID, a[1].ID}, At: day(1)})
	storetest.Check(t, "OutboxMembers after projecting m-a's first two", outbox(10), []string{"m-b", "m-c", "m-a"})
	Save(t, s, &status.StatusWrites{Projected: []string{l.Entries("m-b")[0].ID, l.Entries("m-c")[0].ID, a[2].ID}, At: day(1)})
	storetest.Check(t, "OutboxMembers after projecting all", outbox(10), []string(nil))
}

// ResetProjections drops statuses, purchases, transitions and the
// projected events, keeps the time-driven events (at their positions),
// the stream head and the RFM runs, and queues every entry again,
// whatever its chunks.
func resetProjections(t *testing.T, st Stores, chunk int) {
	s := st.Status
	l := postingtest.NewLedger(t, st.Posting)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-1", EnrolledAt: t0})
	l.Enrol(domain.Member{ID: "m-b", ProgrammeID: "q", ExternalRef: "card-2", EnrolledAt: t0})
	l.Do("m-a", postingtest.Earn(10, t0))
	l.Do("m-a", postingtest.Purchase("20", domain.ChannelPOS, t0.Add(time.Hour)))
	l.Do("m-b", postingtest.Purchase("5", domain.ChannelPOS, t0))
	entries := append(l.Entries("m-a"), l.Entries("m-b")...)
	Project(t, s, l.Cfg, day(1), entries...)
	run := status.RFMRun{ID: "run-1", ProgrammeID: "p", AsOf: day(1), ComputedAt: day(2), Scored: 1, Changed: 1}
	derived := []domain.MemberEvent{
		event("tier:m-a", "m-a", "p", domain.EventTierUp, day(2)),
		event("tier:m-b", "m-b", "q", domain.EventTierDown, day(2)),
		event("segment:m-a", "m-a", "p", domain.EventSegmentChanged, day(2)),
	}
	moments := []domain.MemberEvent{
		event("expiring:m-a", "m-a", "p", domain.EventPointsExpiring, day(2)),
		event("inactive:m-b", "m-b", "q", domain.EventInactive, day(2)),
		event("birthday:m-a", "m-a", "p", domain.EventBirthday, day(2)),
	}
	Save(t, s, &status.StatusWrites{
		Transitions: []domain.Transition{{ID: "tier:m-a", MemberID: "m-a", ProgrammeID: "p", Kind: domain.TransitionTier, From: "a", To: "b", At: day(2), Cause: "x"}},
		Events:      []domain.MemberEvent{derived[0], moments[0], derived[1], moments[1], derived[2], moments[2]},
		RFMRun:      &run, At: day(2),
	})
	before := events(t, s, 0, status.EventFilter{}, 100)
	h := head(t, s)
	if len(before) != len(entries)+6 || h != int64(len(before)) {
		t.Fatalf("fixture: head %d, events %s", h, storetest.Show(before))
	}

	epochs := 0
	if err := status.ResetProjections(context.Background(), s, day(7), chunk, func() { epochs++ }); err != nil {
		t.Fatal(err)
	}
	if epochs != 1 {
		t.Errorf("new epoch reported %d times", epochs)
	}
	storetest.Check(t, "StreamHead after reset", streamHeadOf(t, s), status.StreamHead{Epoch: 2, Position: h, EpochStartedAt: day(7)})

	var kept []status.StreamEvent
	for _, e := range before {
		if slices.ContainsFunc(moments, func(m domain.MemberEvent) bool { return m.EventID == e.EventID }) {
			kept = append(kept, e)
		}
	}
	storetest.Check(t, "Events after reset", events(t, s, 0, status.EventFilter{}, 100), kept)
	if got := head(t, s); got != h {
		t.Errorf("head after reset = %d, want %d", got, h)
	}
	storetest.Check(t, "KnownEvents after reset", known(t, s, "entry:"+entries[0].ID, "tier:m-a", "expiring:m-a", "birthday:m-a"),
		map[string]bool{"expiring:m-a": true, "birthday:m-a": true})
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		sts, err := tx.Statuses(ctx, []string{"m-a", "m-b"})
		if err != nil {
			return err
		}
		storetest.Check(t, "Statuses after reset", sts, map[string]*domain.MemberStatus{})
		ps, err := tx.Purchases(ctx, []string{"m-a", "m-b"})
		if err != nil {
			return err
		}
		storetest.Check(t, "Purchases after reset", ps, map[string][]domain.Purchase{})
		trs, err := tx.Transitions(ctx, "m-a", domain.TransitionTier, status.TransitionPos{}, 100)
		if err != nil {
			return err
		}
		storetest.Check(t, "Transitions after reset", trs, []domain.Transition(nil))
		runs, err := tx.RFMRuns(ctx)
		if err != nil {
			return err
		}
		storetest.Check(t, "RFMRuns after reset", runs, []status.RFMRun{run})
		ids, err := tx.OutboxMembers(ctx, 10)
		if err != nil {
			return err
		}
		slices.Sort(ids)
		storetest.Check(t, "OutboxMembers after reset", ids, []string{"m-a", "m-b"})
		return nil
	})
	// Projecting again puts it all back, after the head.
	books := Project(t, s, l.Cfg, day(3), entries...)
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		sts, err := tx.Statuses(ctx, []string{"m-a", "m-b"})
		if err != nil {
			return err
		}
		storetest.Check(t, "Statuses projected again", sts, map[string]*domain.MemberStatus{"m-a": &books["m-a"].Status, "m-b": &books["m-b"].Status})
		ids, err := tx.OutboxMembers(ctx, 10)
		if err != nil {
			return err
		}
		storetest.Check(t, "OutboxMembers projected again", ids, []string(nil))
		return nil
	})
	again := events(t, s, h, status.EventFilter{}, 100)
	if len(again) != len(entries) || again[0].Position != h+1 {
		t.Errorf("events projected again: %s", storetest.Show(again))
	}
}

func memberStatus(id, programme string) *domain.MemberStatus {
	return &domain.MemberStatus{MemberID: id, ProgrammeID: programme, ProjectedSeq: 1, Tier: "base", TierFloor: "",
		Segment: "new", SegmentSince: t0}
}

// TierDue returns, in id order after afterID and at most limit, the
// members whose tier validity ends by t.
func tierDue(t *testing.T, st Stores) {
	s := st.Status
	m1, m2, m3, m4 := memberStatus("m1", "p"), memberStatus("m2", "p"), memberStatus("m3", "p"), memberStatus("m4", "q")
	m1.TierValidUntil, m2.TierValidUntil, m4.TierValidUntil = day(1), day(2), day(1)
	Save(t, s, &status.StatusWrites{NewStatuses: []*domain.MemberStatus{m4, m2, m3, m1}, At: t0})
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		for _, c := range []struct {
			at    time.Time
			after string
			limit int
			want  []string
		}{
			{day(1), "", 10, []string{"m1", "m4"}},
			{day(1).Add(-time.Microsecond), "", 10, nil},
			{day(2), "", 10, []string{"m1", "m2", "m4"}},
			{day(2), "m1", 10, []string{"m2", "m4"}},
			{day(2), "", 1, []string{"m1"}},
		} {
			got, err := tx.TierDue(ctx, c.at, c.after, c.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("TierDue(%s, %q, %d)", c.at.Format(time.RFC3339Nano), c.after, c.limit), got, c.want)
		}
		return nil
	})
}

// Transitions returns a member's transitions of a kind, in (time, id)
// order, after a position, at most limit.
func transitions(t *testing.T, st Stores) {
	s := st.Status
	tr := func(id, member, kind string, at time.Time) domain.Transition {
		return domain.Transition{ID: id, MemberID: member, ProgrammeID: "p", Kind: kind, From: "from-" + id, To: "to-" + id, At: at, Cause: "cause-" + id}
	}
	t1, t2, t3 := tr("t1", "m-a", domain.TransitionTier, day(1)), tr("t2", "m-a", domain.TransitionSegment, day(2)), tr("t3", "m-a", domain.TransitionTier, day(3))
	t4 := tr("t4", "m-b", domain.TransitionTier, day(1))
	t0b, t0a := tr("t0b", "m-a", domain.TransitionTier, day(3)), tr("t0a", "m-a", domain.TransitionTier, day(3))
	Save(t, s, &status.StatusWrites{Transitions: []domain.Transition{t3, t4, t0b, t0a}, At: day(3)})
	Save(t, s, &status.StatusWrites{Transitions: []domain.Transition{t1, t2}, At: day(4)})
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		for _, c := range []struct {
			member, kind string
			after        status.TransitionPos
			limit        int
			want         []domain.Transition
		}{
			{"m-a", domain.TransitionTier, status.TransitionPos{}, 10, []domain.Transition{t1, t0a, t0b, t3}},
			{"m-a", domain.TransitionTier, status.TransitionPos{}, 2, []domain.Transition{t1, t0a}},
			{"m-a", domain.TransitionTier, status.TransitionPos{At: day(3), ID: "t0a"}, 10, []domain.Transition{t0b, t3}},
			{"m-a", domain.TransitionTier, status.TransitionPos{At: day(1), ID: "t1"}, 1, []domain.Transition{t0a}},
			{"m-a", domain.TransitionTier, status.TransitionPos{At: day(3), ID: "t3"}, 10, nil},
			{"m-a", domain.TransitionSegment, status.TransitionPos{}, 10, []domain.Transition{t2}},
			{"m-b", domain.TransitionTier, status.TransitionPos{}, 10, []domain.Transition{t4}},
			{"m-b", domain.TransitionSegment, status.TransitionPos{}, 10, nil},
		} {
			got, err := tx.Transitions(ctx, c.member, c.kind, c.after, c.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("Transitions(%s, %s, %+v, %d)", c.member, c.kind, c.after, c.limit), got, c.want)
		}
		return nil
	})
}

// RFMRuns returns the runs oldest first; RFMInputs sums, per member, the
// purchases of a programme that occurred in (from, to] and were recorded
// by recordedBy: the last purchase and the number of purchases (returns
// not counted), the spend net of returns; members without a purchase are
// left out.
func rfmRunsAndInputs(t *testing.T, st Stores) {
	s := st.Status
	r1 := status.RFMRun{ID: "run-1", ProgrammeID: "p", AsOf: day(2), ComputedAt: day(2).Add(time.Hour), Scored: 10, Changed: 3}
	r2 := status.RFMRun{ID: "run-2", ProgrammeID: "q", AsOf: day(1), ComputedAt: day(1).Add(time.Hour), Scored: 5, Changed: 0}
	Save(t, s, &status.StatusWrites{RFMRun: &r1, At: day(3)})
	Save(t, s, &status.StatusWrites{RFMRun: &r2, At: day(3)})

	buy := func(member, programme, entry string, occurred, recorded time.Time, spend int64) status.MemberPurchase {
		return status.MemberPurchase{MemberID: member, ProgrammeID: programme, Purchase: domain.Purchase{EntryID: entry,
			OccurredAt: occurred, QualifiesAt: occurred, RecordedAt: recorded, SpendMicros: spend, StatusPoints: spend / 1_000_000, Points: spend / 1_000_000}}
	}
	ret := func(p status.MemberPurchase) status.MemberPurchase {
		p.Return = true
		return p
	}
	Save(t, s, &status.StatusWrites{At: day(5), Purchases: []status.MemberPurchase{
		buy("m-a", "p", "a1", day(1), day(1), 10_000_000),
		buy("m-a", "p", "a2", day(2), day(2), 20_000_000),
		ret(buy("m-a", "p", "a3", day(3), day(3), -5_000_000)),
		buy("m-b", "p", "b1", day(-10), day(-10), 7_000_000),
		ret(buy("m-c", "p", "c1", day(2), day(2), -1_000_000)),
		buy("m-d", "q", "d1", day(2), day(2), 3_000_000),
		buy("m-e", "p", "e1", day(2), day(4), 4_000_000),
	}})
	input := func(member string, last time.Time, n int64, spend string) domain.RFMInput {
		return domain.RFMInput{MemberID: member, LastPurchase: last, Purchases: n, Spend: postingtest.Dec(spend)}
	}
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		runs, err := tx.RFMRuns(ctx)
		if err != nil {
			return err
		}
		storetest.Check(t, "RFMRuns", runs, []status.RFMRun{r2, r1})
		for _, c := range []struct {
			from, to, recordedBy time.Time
			want                 []domain.RFMInput
		}{
			{day(0), day(3), day(3), []domain.RFMInput{input("m-a", day(2), 2, "25")}},
			{day(0), day(3), day(4), []domain.RFMInput{input("m-a", day(2), 2, "25"), input("m-e", day(2), 1, "4")}},
			{day(0), day(2), day(4), []domain.RFMInput{input("m-a", day(2), 2, "30"), input("m-e", day(2), 1, "4")}},
			{day(1), day(3), day(3), []domain.RFMInput{input("m-a", day(2), 1, "15")}},
			{day(-20), day(3), day(3), []domain.RFMInput{input("m-a", day(2), 2, "25"), input("m-b", day(-10), 1, "7")}},
		} {
			got, err := tx.RFMInputs(ctx, "p", c.from, c.to, c.recordedBy)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("RFMInputs(p, %s, %s, %s)", c.from.Format(time.DateOnly), c.to.Format(time.DateOnly),
				c.recordedBy.Format(time.DateOnly)), got, c.want)
		}
		return nil
	})
}

// Expiring sums, per member and expiry time in that order, the available
// points of a programme's lots expiring in (from, to].
func expiring(t *testing.T, st Stores) {
	s := st.Status
	l := postingtest.NewLedger(t, st.Posting)
	for _, m := range []struct{ id, programme string }{{"m-a", "p"}, {"m-b", "p"}, {"m-c", "p"}, {"m-d", "q"}} {
		l.Enrol(domain.Member{ID: m.id, ProgrammeID: m.programme, ExternalRef: "card-" + m.id, EnrolledAt: t0})
	}
	l.Do("m-a", postingtest.Earn(10, t0))
	l.Do("m-a", postingtest.Earn(5, t0.Add(time.Hour)))
	l.Do("m-a", postingtest.Earn(7, day(3)))
	l.Do("m-a", postingtest.Burn(3, domain.ChannelPOS, day(3)))
	l.Do("m-b", postingtest.Earn(20, t0))
	l.Do("m-b", postingtest.Burn(20, domain.ChannelPOS, t0.Add(time.Hour)))
	l.Do("m-c", postingtest.Purchase("30", domain.ChannelPOS, t0))
	l.Do("m-d", postingtest.Earn(10, t0))
	p, _ := l.Cfg.Programme("p")
	x0, x3 := p.ExpiresAt(t0), p.ExpiresAt(day(3))
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		for _, c := range []struct {
			programme string
			from, to  time.Time
			want      []status.Expiring
		}{
			{"p", x0.Add(-time.Microsecond), x0, []status.Expiring{{MemberID: "m-a", ExpiresAt: x0, Points: 12}}},
			{"p", x0, x3, []status.Expiring{{MemberID: "m-a", ExpiresAt: x3, Points: 7}}},
			{"p", t0, x3, []status.Expiring{{MemberID: "m-a", ExpiresAt: x0, Points: 12}, {MemberID: "m-a", ExpiresAt: x3, Points: 7}}},
			{"p", t0, x0.Add(-time.Microsecond), nil},
			{"q", t0, x3, []status.Expiring{{MemberID: "m-d", ExpiresAt: x0, Points: 10}}},
		} {
			got, err := tx.Expiring(ctx, c.programme, c.from, c.to)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("Expiring(%s, %s, %s)", c.programme, c.from.Format(time.RFC3339Nano), c.to.Format(time.RFC3339Nano)), got, c.want)
		}
		return nil
	})
}

// Inactive returns, in member id order, the statuses of a programme's
// members whose last purchase was by t.
func inactive(t *testing.T, st Stores) {
	s := st.Status
	a, b, c, d := memberStatus("m-a", "p"), memberStatus("m-b", "p"), memberStatus("m-c", "p"), memberStatus("m-d", "q")
	a.LastPurchase, a.FirstPurchase, a.Purchases = day(1), day(0), 2
	b.LastPurchase, b.FirstPurchase, b.Purchases = day(2), day(2), 1
	d.LastPurchase = day(1)
	Save(t, s, &status.StatusWrites{NewStatuses: []*domain.MemberStatus{d, c, b, a}, At: day(3)})
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		for _, k := range []struct {
			at   time.Time
			want []*domain.MemberStatus
		}{
			{day(1).Add(-time.Microsecond), nil},
			{day(1), []*domain.MemberStatus{a}},
			{day(2), []*domain.MemberStatus{a, b}},
		} {
			got, err := tx.Inactive(ctx, "p", k.at)
			if err != nil {
				return err
			}
			storetest.Check(t, "Inactive(p, "+k.at.Format(time.RFC3339Nano)+")", got, k.want)
		}
		return nil
	})
}

// Birthdays returns, in id order, a programme's members born on a month
// and day; members (there and on the write path) carry the tier last
// projected for them.
func birthdaysAndProjectedTier(t *testing.T, st Stores) {
	s := st.Status
	l := postingtest.NewLedger(t, st.Posting)
	for _, m := range []struct{ id, programme, born string }{
		{"m-a", "p", "1990-04-17"}, {"m-b", "p", "1985-04-17"}, {"m-c", "p", "1990-04-18"}, {"m-d", "p", ""},
		{"m-e", "q", "1990-04-17"}, {"m-f", "p", "1990-12-17"}, {"m-g", "p", "2004-02-29"},
	} {
		l.Enrol(domain.Member{ID: m.id, ProgrammeID: m.programme, ExternalRef: "card-" + m.id, BirthDate: m.born, EnrolledAt: t0})
	}
	l.Do("m-a", postingtest.Earn(10, t0))
	gold := memberStatus("m-a", "p")
	gold.Tier = "gold"
	Save(t, s, &status.StatusWrites{NewStatuses: []*domain.MemberStatus{gold}, At: day(1)})
	a := l.Member("m-a")
	a.Tier = "gold"
	View(t, s, func(ctx context.Context, tx status.Reader) error {
		for _, c := range []struct {
			programme, monthDay string
			want                []*domain.Member
		}{
			{"p", "04-17", []*domain.Member{a, l.Member("m-b")}},
			{"q", "04-17", []*domain.Member{l.Member("m-e")}},
			{"p", "02-29", []*domain.Member{l.Member("m-g")}},
			{"p", "02-28", nil},
		} {
			got, err := tx.Birthdays(ctx, c.programme, c.monthDay)
			if err != nil {
				return err
			}
			storetest.Check(t, "Birthdays("+c.programme+", "+c.monthDay+")", got, c.want)
		}
		return nil
	})
	postingtest.View(t, st.Posting, func(ctx context.Context, tx posting.Reader) error {
		ms, err := tx.Members(ctx, []string{"m-a", "m-b"}, false)
		if err != nil {
			return err
		}
		storetest.Check(t, "Members with the projected tier", ms, map[string]*domain.Member{"m-a": a, "m-b": l.Member("m-b")})
		return nil
	})
}
