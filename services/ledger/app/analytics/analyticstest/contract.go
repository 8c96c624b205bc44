// Package analyticstest states what any implementation of analytics.Store
// must do (Contract), through the interface only: what the analytics save
// reads back, and the figures read over a ledger written with the
// domain's operations through a posting.Store, and projections saved
// through a status.Store, on the same database.
package analyticstest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/storetest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting/postingtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status/statustest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Stores are what an analytics contract runs on, over one database: the
// analytics store under test, and the posting and status stores that
// write what it reads.
type Stores struct {
	Analytics analytics.Store
	Posting   posting.Store
	Status    status.Store
}

// Contract states what any analytics.Store must do. open returns stores
// of their own over an empty database for each subtest.
func Contract(t *testing.T, open func(t *testing.T) Stores) {
	t.Run("KPIsAndChurn", func(t *testing.T) { kpisAndChurn(t, open(t)) })
	t.Run("KPIRuns", func(t *testing.T) { kpiRuns(t, open(t)) })
	t.Run("SecretIsTheFirstForever", func(t *testing.T) { secretIsTheFirstForever(t, open(t)) })
	t.Run("AnonymousSales", func(t *testing.T) { anonymousSales(t, open(t)) })
	t.Run("Histories", func(t *testing.T) { histories(t, open(t)) })
	t.Run("TransitionsOf", func(t *testing.T) { transitionsOf(t, open(t)) })
	t.Run("PointsLiabilityFirstEnrolment", func(t *testing.T) { pointsLiabilityFirstEnrolment(t, open(t)) })
	t.Run("Distribution", func(t *testing.T) { distribution(t, open(t)) })
	t.Run("ProgrammeStats", func(t *testing.T) { programmeStats(t, open(t)) })
}

var t0 = postingtest.T0

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

// View runs fn in a read snapshot of s, failing the test on an error.
func View(t testing.TB, s analytics.Store, fn func(ctx context.Context, tx analytics.Reader) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// Update runs fn in a write transaction of s, failing the test on an error.
func Update(t testing.TB, s analytics.Store, fn func(ctx context.Context, tx analytics.Writer) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// kpiRun is a refresh's rows and configuration, to save as one run.
type kpiRun struct {
	analytics.KPIRows
	analytics.KPIRun
}

func kpis(programme string, model *analytics.ChurnModel, risks ...analytics.ChurnRisk) *kpiRun {
	return &kpiRun{
		KPIRun: analytics.KPIRun{ProgrammeID: programme, Currency: "EUR", PointValue: postingtest.Dec("0.01"), InactiveDays: 90,
			RefreshedAt: day(1), HasModel: model != nil},
		KPIRows: analytics.KPIRows{
			ProgrammeID: programme,
			Periods: []domain.PeriodFacts{
				{Period: domain.Period{Key: "2026-01", Start: day(-4), End: day(27)}, MembersStart: 1, MembersEnd: 3, New: 2,
					ActiveStart: 1, ActiveEnd: 2, NewActiveEnd: 1, Churned: 0, Purchasers: 2, RepeatPurchasers: 1},
				{Period: domain.Period{Key: "2026-02", Start: day(27), End: day(55)}, MembersStart: 3, MembersEnd: 3},
			},
			Cohorts: []domain.CohortCell{{Cohort: "2026-01", MonthsSince: 0, Size: 2, Active: 1}, {Cohort: "2026-01", MonthsSince: 1, Size: 2}},
			Transitions: []analytics.KPITransition{
				{Kind: domain.TransitionTier, Period: "2026-01", TransitionCell: domain.TransitionCell{From: "blue", To: "silver", Members: 1}},
				{Kind: domain.TransitionTier, Period: "2026-01", TransitionCell: domain.TransitionCell{From: "blue", To: "blue", Members: 2}},
				{Kind: domain.TransitionSegment, Period: "2026-01", TransitionCell: domain.TransitionCell{From: "", To: "champions", Members: 1}},
				{Kind: domain.TransitionSegment, Period: "2026-02", TransitionCell: domain.TransitionCell{From: "champions", To: "loyal", Members: 1}},
			},
			Model: model,
			Risks: risks,
		},
	}
}

// writeRun writes a run's rows under a new run id, chunk rows to a
// transaction, and returns the id; it does not switch to it.
func writeRun(t *testing.T, s analytics.Store, w *kpiRun, chunk int) int64 {
	t.Helper()
	var run int64
	Update(t, s, func(ctx context.Context, tx analytics.Writer) error {
		var err error
		run, err = tx.NewKPIRun(ctx, w.KPIRows.ProgrammeID)
		return err
	})
	all := w.KPIRows
	var parts []analytics.KPIRows
	for i := range all.Periods {
		parts = append(parts, analytics.KPIRows{Periods: all.Periods[i : i+1]})
	}
	for i := range all.Cohorts {
		parts = append(parts, analytics.KPIRows{Cohorts: all.Cohorts[i : i+1]})
	}
	for i := range all.Transitions {
		parts = append(parts, analytics.KPIRows{Transitions: all.Transitions[i : i+1]})
	}
	if all.Model != nil {
		parts = append(parts, analytics.KPIRows{Model: all.Model})
	}
	for i := range all.Risks {
		parts = append(parts, analytics.KPIRows{Risks: all.Risks[i : i+1]})
	}
	for len(parts) > 0 {
		n := min(chunk, len(parts))
		rows := analytics.KPIRows{ProgrammeID: all.ProgrammeID, Run: run}
		for _, p := range parts[:n] {
			rows.Periods = append(rows.Periods, p.Periods...)
			rows.Cohorts = append(rows.Cohorts, p.Cohorts...)
			rows.Transitions = append(rows.Transitions, p.Transitions...)
			rows.Risks = append(rows.Risks, p.Risks...)
			if p.Model != nil {
				rows.Model = p.Model
			}
		}
		Update(t, s, func(ctx context.Context, tx analytics.Writer) error { return tx.SaveKPIRows(ctx, &rows) })
		parts = parts[n:]
	}
	return run
}

// switchRun makes a run current and reports whether it did.
func switchRun(t *testing.T, s analytics.Store, w *kpiRun, run int64) bool {
	t.Helper()
	r := w.KPIRun
	r.Run = run
	var ok bool
	Update(t, s, func(ctx context.Context, tx analytics.Writer) error {
		var err error
		ok, err = tx.SwitchKPIRun(ctx, &r)
		return err
	})
	return ok
}

// dropRuns deletes a programme's superseded runs, limit rows per table
// and transaction, and returns the rows deleted.
func dropRuns(t *testing.T, s analytics.Store, programme string, limit int) int {
	t.Helper()
	total := 0
	for {
		var n int
		Update(t, s, func(ctx context.Context, tx analytics.Writer) error {
			var err error
			n, err = tx.DropKPIRuns(ctx, programme, limit)
			return err
		})
		if n == 0 {
			return total
		}
		if n > limit*5 {
			t.Fatalf("DropKPIRuns(%d) deleted %d rows", limit, n)
		}
		total += n
	}
}

// saveKPIs saves a refresh as the analytics do: a new run written in
// small chunks, switched to, the superseded runs dropped in small chunks.
func saveKPIs(t *testing.T, s analytics.Store, w *kpiRun) {
	t.Helper()
	if run := writeRun(t, s, w, 2); !switchRun(t, s, w, run) {
		t.Fatalf("run %d of %s was not switched to", run, w.KPIRows.ProgrammeID)
	}
	dropRuns(t, s, w.KPIRows.ProgrammeID, 1)
}

// A KPI run, saved in chunks and switched to, replaces a programme's KPIs:
// its churn model and every member's risk under it read back, a member no
// longer scored has none, and other programmes keep theirs.
func kpisAndChurn(t *testing.T, st Stores) {
	s := st.Analytics
	m1 := &analytics.ChurnModel{ProgrammeID: "p", FittedAt: day(1), CalibrationEnd: day(0), Customers: 3,
		R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426, LogLikelihood: -9582.4296875, HorizonWeeks: 26}
	a1 := analytics.ChurnRisk{MemberID: "m-a", MemberKey: "key-a", RepeatPurchases: 2, TxWeeks: 30.43, TWeeks: 38.86, PAlive: 0.72, ExpectedPurchases: 1.21}
	b1 := analytics.ChurnRisk{MemberID: "m-b", MemberKey: "key-b", RepeatPurchases: 0, TWeeks: 38.86, PAlive: 1, ExpectedPurchases: 0.5}
	saveKPIs(t, s, kpis("p", m1, a1, b1))
	mq := &analytics.ChurnModel{ProgrammeID: "q", FittedAt: day(2), CalibrationEnd: day(1), Customers: 1, R: 1, Alpha: 2, A: 3, B: 4, HorizonWeeks: 52}
	aq := analytics.ChurnRisk{MemberID: "m-a", MemberKey: "key-a-q", RepeatPurchases: 7, PAlive: 0.1}
	saveKPIs(t, s, kpis("q", mq, aq))

	check := func(what string, models map[string]*analytics.ChurnModel, risks map[[2]string]*analytics.ChurnRisk) {
		t.Helper()
		View(t, s, func(ctx context.Context, tx analytics.Reader) error {
			for _, p := range []string{"p", "q", "r"} {
				got, err := tx.ChurnModel(ctx, p)
				if err != nil {
					return err
				}
				storetest.Check(t, what+": ChurnModel("+p+")", got, models[p])
				for _, m := range []string{"m-a", "m-b", "m-c"} {
					got, err := tx.ChurnRisk(ctx, p, m)
					if err != nil {
						return err
					}
					storetest.Check(t, what+": ChurnRisk("+p+", "+m+")", got, risks[[2]string{p, m}])
				}
			}
			return nil
		})
	}
	check("first", map[string]*analytics.ChurnModel{"p": m1, "q": mq},
		map[[2]string]*analytics.ChurnRisk{{"p", "m-a"}: &a1, {"p", "m-b"}: &b1, {"q", "m-a"}: &aq})

	m2 := *m1
	m2.FittedAt, m2.Customers, m2.R = day(8), 4, 0.5
	b2 := b1
	b2.RepeatPurchases, b2.PAlive = 1, 0.25
	c2 := analytics.ChurnRisk{MemberID: "m-c", MemberKey: "key-c", TWeeks: 1}
	saveKPIs(t, s, kpis("p", &m2, b2, c2))
	check("replaced", map[string]*analytics.ChurnModel{"p": &m2, "q": mq},
		map[[2]string]*analytics.ChurnRisk{{"p", "m-b"}: &b2, {"p", "m-c"}: &c2, {"q", "m-a"}: &aq})
}

// A run's rows are not read until it is switched to; a run older than the
// current one is never switched to; a run without a churn model keeps the
// last model; dropping deletes the runs older than the current one only,
// not one still being written.
func kpiRuns(t *testing.T, st Stores) {
	s := st.Analytics
	check := func(what string, model *analytics.ChurnModel, risks map[string]*analytics.ChurnRisk) {
		t.Helper()
		View(t, s, func(ctx context.Context, tx analytics.Reader) error {
			got, err := tx.ChurnModel(ctx, "p")
			if err != nil {
				return err
			}
			storetest.Check(t, what+": ChurnModel", got, model)
			for _, m := range []string{"m-a", "m-b", "m-c"} {
				got, err := tx.ChurnRisk(ctx, "p", m)
				if err != nil {
					return err
				}
				storetest.Check(t, what+": ChurnRisk("+m+")", got, risks[m])
			}
			return nil
		})
	}
	model := func(n int64) *analytics.ChurnModel {
		return &analytics.ChurnModel{ProgrammeID: "p", FittedAt: day(int(n)), CalibrationEnd: day(0), Customers: n, R: 1, Alpha: 2, A: 3, B: 4,
			HorizonWeeks: 52}
	}
	risk := func(m string, x int) analytics.ChurnRisk {
		return analytics.ChurnRisk{MemberID: m, MemberKey: "key-" + m, RepeatPurchases: x, PAlive: 0.5}
	}
	m1, a1 := model(1), risk("m-a", 1)
	saveKPIs(t, s, kpis("p", m1, a1))
	check("first run", m1, map[string]*analytics.ChurnRisk{"m-a": &a1})

	w2 := kpis("p", model(2), risk("m-b", 2))
	run2 := writeRun(t, s, w2, 1)
	check("second run written, not switched to", m1, map[string]*analytics.ChurnRisk{"m-a": &a1})
	m3, c3 := model(3), risk("m-c", 3)
	w3 := kpis("p", m3, c3)
	run3 := writeRun(t, s, w3, 1)
	if !switchRun(t, s, w3, run3) {
		t.Fatal("third run not switched to")
	}
	check("third run", m3, map[string]*analytics.ChurnRisk{"m-c": &c3})
	if n := dropRuns(t, s, "p", 1); n != 20 {
		t.Errorf("dropped %d rows of the first two runs, want 20", n)
	}
	if switchRun(t, s, w2, run2) {
		t.Error("switched back to the second run, older than the current one")
	}
	check("after switching back", m3, map[string]*analytics.ChurnRisk{"m-c": &c3})

	w4 := kpis("p", nil)
	if run4 := writeRun(t, s, w4, 3); !switchRun(t, s, w4, run4) {
		t.Fatal("fourth run not switched to")
	}
	m5, b5 := model(5), risk("m-b", 5)
	w5 := kpis("p", m5, b5)
	run5 := writeRun(t, s, w5, 2)
	if n := dropRuns(t, s, "p", 2); n != 8 {
		t.Errorf("dropped %d rows of the third run (its model is current), want 8", n)
	}
	check("a run without a model", m3, map[string]*analytics.ChurnRisk{"m-c": &c3})
	if !switchRun(t, s, w5, run5) {
		t.Fatal("fifth run not switched to")
	}
	check("fifth run, written during a drop", m5, map[string]*analytics.ChurnRisk{"m-b": &b5})
	if n := dropRuns(t, s, "p", 1000); n != 10 {
		t.Errorf("dropped %d rows of the third and fourth runs, want 10", n)
	}
	check("fifth run", m5, map[string]*analytics.ChurnRisk{"m-b": &b5})
}

// Secret stores the first value it is given under a name and returns that
// one forever, also to concurrent first calls.
func secretIsTheFirstForever(t *testing.T, st Stores) {
	s := st.Analytics
	secret := func(name string, fresh []byte) []byte {
		var got []byte
		if err := s.Update(context.Background(), func(ctx context.Context, tx analytics.Writer) error {
			var err error
			got, err = tx.Secret(ctx, name, fresh)
			return err
		}); err != nil {
			t.Error(err)
		}
		return got
	}
	fresh := [][]byte{[]byte("first-secret\x00\xff"), []byte("second-secret\x01")}
	got := make([][]byte, len(fresh))
	var wg sync.WaitGroup
	for i := range fresh {
		wg.Go(func() { got[i] = secret("bi", fresh[i]) })
	}
	wg.Wait()
	if !storetest.Equal(got[0], got[1]) || !(storetest.Equal(got[0], fresh[0]) || storetest.Equal(got[0], fresh[1])) {
		t.Fatalf("concurrent first calls got %q and %q, want the same one of %q", got[0], got[1], fresh)
	}
	storetest.Check(t, "Secret(bi) later", secret("bi", []byte("third")), got[0])
	storetest.Check(t, "Secret(other)", secret("other", []byte("its own")), []byte("its own"))
	storetest.Check(t, "Secret(bi) last", secret("bi", []byte("fourth")), got[0])
}

// SaveAnonymousSales keeps, per programme, store and business day, the
// count counted last (a count counted at the same time replaces it), and
// returns the count kept.
func anonymousSales(t *testing.T, st Stores) {
	s := st.Analytics
	save := func(a analytics.AnonymousSales) analytics.AnonymousSales {
		t.Helper()
		var got analytics.AnonymousSales
		Update(t, s, func(ctx context.Context, tx analytics.Writer) error {
			var err error
			got, err = tx.SaveAnonymousSales(ctx, a)
			return err
		})
		return got
	}
	sales := func(programme, store, businessDay string, n int64, counted time.Time) analytics.AnonymousSales {
		return analytics.AnonymousSales{ProgrammeID: programme, StoreID: store, BusinessDay: businessDay, Transactions: n, CountedAt: counted}
	}
	first := sales("p", "s1", "2026-03-01", 10, day(1))
	storetest.Check(t, "first count", save(first), first)
	later := sales("p", "s1", "2026-03-01", 12, day(2))
	storetest.Check(t, "a later count", save(later), later)
	storetest.Check(t, "an earlier count", save(sales("p", "s1", "2026-03-01", 99, day(1).Add(time.Hour))), later)
	same := sales("p", "s1", "2026-03-01", 13, day(2))
	storetest.Check(t, "a count at the same time", save(same), same)
	for _, other := range []analytics.AnonymousSales{
		sales("p", "s2", "2026-03-01", 5, day(0)),
		sales("p", "s1", "2026-03-02", 6, day(0)),
		sales("q", "s1", "2026-03-01", 7, day(0)),
	} {
		storetest.Check(t, "another store, day or programme", save(other), other)
	}
	storetest.Check(t, "an earlier count again", save(sales("p", "s1", "2026-03-01", 1, day(0))), same)
}

func purchase(member, programme, entry string, occurred, recorded time.Time, isReturn bool) status.MemberPurchase {
	spend := int64(10_000_000)
	if isReturn {
		spend = -spend
	}
	return status.MemberPurchase{MemberID: member, ProgrammeID: programme, Purchase: domain.Purchase{EntryID: entry, Return: isReturn,
		OccurredAt: occurred, QualifiesAt: occurred, RecordedAt: recorded, SpendMicros: spend, StatusPoints: spend / 1_000_000, Points: spend / 1_000_000}}
}

// Histories pages a programme's members in id order with the times of
// their purchases (not returns), in time order.
func histories(t *testing.T, st Stores) {
	l := postingtest.NewLedger(t, st.Posting)
	for _, m := range []struct {
		id, programme string
		enrolled      time.Time
	}{
		{"m1", "p", day(0)}, {"m2", "p", day(1)}, {"m2x", "q", day(1)}, {"m3", "p", day(2)}, {"m4", "p", day(3)},
	} {
		l.Enrol(domain.Member{ID: m.id, ProgrammeID: m.programme, ExternalRef: "card-" + m.id, EnrolledAt: m.enrolled})
	}
	statustest.Save(t, st.Status, &status.StatusWrites{At: day(9), Purchases: []status.MemberPurchase{
		purchase("m1", "p", "e1", day(5), day(5), false),
		purchase("m1", "p", "e2", day(3), day(6), false),
		purchase("m1", "p", "e3", day(7), day(7), true),
		purchase("m3", "p", "e4", day(4), day(4), false),
		purchase("m2x", "q", "e5", day(4), day(4), false),
	}})
	h := func(id string, enrolled time.Time, purchases ...time.Time) analytics.MemberHistory {
		return analytics.MemberHistory{MemberID: id, MemberHistory: domain.MemberHistory{Enrolled: enrolled, Purchases: purchases}}
	}
	all := []analytics.MemberHistory{h("m1", day(0), day(3), day(5)), h("m2", day(1)), h("m3", day(2), day(4)), h("m4", day(3))}
	View(t, st.Analytics, func(ctx context.Context, tx analytics.Reader) error {
		for _, c := range []struct {
			programme, after string
			limit            int
			want             []analytics.MemberHistory
		}{
			{"p", "", 10, all},
			{"p", "", 2, all[:2]},
			{"p", "m2", 2, all[2:]},
			{"p", "m4", 2, nil},
			{"q", "", 10, []analytics.MemberHistory{h("m2x", day(1), day(4))}},
			{"r", "", 10, nil},
		} {
			got, err := tx.Histories(ctx, c.programme, c.after, c.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("Histories(%s, %q, %d)", c.programme, c.after, c.limit), got, c.want)
		}
		return nil
	})
}

// TransitionsOf returns, per member asked for, its transitions of a kind
// in time order.
func transitionsOf(t *testing.T, st Stores) {
	tr := func(id, member, kind string, at time.Time) domain.Transition {
		return domain.Transition{ID: id, MemberID: member, ProgrammeID: "p", Kind: kind, From: "from-" + id, To: "to-" + id, At: at, Cause: "cause-" + id}
	}
	t1, t2, t3 := tr("t1", "m-a", domain.TransitionTier, day(1)), tr("t2", "m-a", domain.TransitionSegment, day(2)), tr("t3", "m-a", domain.TransitionTier, day(3))
	t4, t5 := tr("t4", "m-b", domain.TransitionTier, day(1)), tr("t5", "m-c", domain.TransitionTier, day(1))
	statustest.Save(t, st.Status, &status.StatusWrites{Transitions: []domain.Transition{t3, t5, t2}, At: day(3)})
	statustest.Save(t, st.Status, &status.StatusWrites{Transitions: []domain.Transition{t4, t1}, At: day(4)})
	View(t, st.Analytics, func(ctx context.Context, tx analytics.Reader) error {
		for _, c := range []struct {
			kind    string
			members []string
			want    map[string][]domain.Transition
		}{
			{domain.TransitionTier, []string{"m-a", "m-b", "m-none"}, map[string][]domain.Transition{"m-a": {t1, t3}, "m-b": {t4}}},
			{domain.TransitionSegment, []string{"m-a", "m-b"}, map[string][]domain.Transition{"m-a": {t2}}},
			{domain.TransitionTier, nil, map[string][]domain.Transition{}},
		} {
			got, err := tx.TransitionsOf(ctx, c.kind, c.members)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("TransitionsOf(%s, %v)", c.kind, c.members), got, c.want)
		}
		return nil
	})
}

// Points sums a programme's entries that occurred in [from, to) per
// channel and partner, expired points under the channel and partner of
// the entry that issued them; Liability sums its members' balances;
// FirstEnrolment is its first member's enrolment.
func pointsLiabilityFirstEnrolment(t *testing.T, st Stores) {
	l := postingtest.NewLedger(t, st.Posting)
	l.Enrol(domain.Member{ID: "m-a", ProgrammeID: "p", ExternalRef: "card-a", EnrolledAt: t0})
	l.Enrol(domain.Member{ID: "m-b", ProgrammeID: "p", ExternalRef: "card-b", EnrolledAt: day(-1)})
	l.Enrol(domain.Member{ID: "m-c", ProgrammeID: "q", ExternalRef: "card-c", EnrolledAt: day(-5)})
	l.Enrol(domain.Member{ID: "m-d", ProgrammeID: "p", ExternalRef: "card-d", EnrolledAt: day(2)})
	hour := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	earn := func(c domain.EarnCmd, at time.Time) func(b *domain.Book) error {
		return func(b *domain.Book) error {
			c.OccurredAt = at
			_, err := b.Earn(c, at)
			return err
		}
	}
	e1 := l.Do("m-a", earn(domain.EarnCmd{Points: 100, Channel: domain.ChannelPOS}, hour(0)))[0]
	l.Do("m-a", earn(domain.EarnCmd{Points: 50, Channel: domain.ChannelPartner, PartnerID: "acme"}, hour(1)))
	burn := l.Do("m-a", postingtest.Burn(30, domain.ChannelEcommerce, hour(2)))[0]
	l.Do("m-a", postingtest.Reverse(l, burn, domain.Portion{Points: 10}, domain.ChannelEcommerce, hour(3)))
	var h *domain.Hold
	l.Do("m-a", postingtest.HoldPoints(20, hour(4), &h))
	l.Do("m-a", func(b *domain.Book) error {
		_, _, _, err := b.Capture(h.ID, 15, hour(4).Add(time.Minute))
		return err
	})
	l.Do("m-a", postingtest.Reverse(l, e1, domain.Portion{Points: 5}, domain.ChannelPOS, hour(5)))
	p, _ := l.Cfg.Programme("p")
	x := p.ExpiresAt(t0)
	l.Do("m-a", func(b *domain.Book) error {
		if r := b.Settle(x, x); r.PointsExpired != 110 {
			return fmt.Errorf("fixture: settled %+v, want 110 points expired", r)
		}
		return nil
	})
	l.Do("m-b", postingtest.Purchase("40", domain.ChannelPOS, t0))
	l.Do("m-c", earn(domain.EarnCmd{Points: 1000, Channel: domain.ChannelPOS}, t0))
	l.Do("m-d", earn(domain.EarnCmd{Points: 10, Channel: domain.ChannelEcommerce}, day(2)))
	l.Do("m-d", postingtest.HoldPoints(7, day(2), new(*domain.Hold)))

	row := func(channel domain.Channel, partner string, issued, burned, refunded, expired, clawed int64) analytics.PointsRow {
		return analytics.PointsRow{Channel: string(channel), PartnerID: partner, Issued: issued, Burned: burned, Refunded: refunded,
			Expired: expired, ClawedBack: clawed}
	}
	View(t, st.Analytics, func(ctx context.Context, tx analytics.Reader) error {
		for _, c := range []struct {
			from, to time.Time
			want     []analytics.PointsRow
		}{
			{t0, x.Add(24 * time.Hour), []analytics.PointsRow{
				row("", "", 0, 15, 0, 0, 0), // the capture
				row(domain.ChannelEcommerce, "", 10, 30, 10, 0, 0),
				row(domain.ChannelPartner, "acme", 50, 0, 0, 50, 0),
				row(domain.ChannelPOS, "", 140, 0, 0, 60, 5),
			}},
			{t0, day(1), []analytics.PointsRow{
				row("", "", 0, 15, 0, 0, 0),
				row(domain.ChannelEcommerce, "", 0, 30, 10, 0, 0),
				row(domain.ChannelPartner, "acme", 50, 0, 0, 0, 0),
				row(domain.ChannelPOS, "", 140, 0, 0, 0, 5),
			}},
			{x, x.Add(24 * time.Hour), []analytics.PointsRow{
				row(domain.ChannelPartner, "acme", 0, 0, 0, 50, 0),
				row(domain.ChannelPOS, "", 0, 0, 0, 60, 0),
			}},
			{hour(1), hour(2), []analytics.PointsRow{row(domain.ChannelPartner, "acme", 50, 0, 0, 0, 0)}},
			{day(-10), t0, nil},
		} {
			got, err := tx.Points(ctx, "p", c.from, c.to)
			if err != nil {
				return err
			}
			slices.SortFunc(got, func(a, b analytics.PointsRow) int {
				return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.PartnerID, b.PartnerID))
			})
			storetest.Check(t, fmt.Sprintf("Points(p, %s, %s)", c.from.Format(time.RFC3339), c.to.Format(time.RFC3339)), got, c.want)
		}

		var want analytics.Liability
		for _, id := range []string{"m-a", "m-b", "m-d"} {
			m := l.Member(id)
			want.Members++
			want.Available += m.Available
			want.Pending += m.Pending
			want.Held += m.Held
		}
		if want != (analytics.Liability{Members: 3, Available: 3, Pending: 40, Held: 7}) {
			t.Fatalf("fixture: liability %+v", want)
		}
		for _, c := range []struct {
			programme string
			want      analytics.Liability
		}{
			{"p", want},
			{"q", analytics.Liability{Members: 1, Available: 1000}},
			{"r", analytics.Liability{}},
		} {
			got, err := tx.Liability(ctx, c.programme)
			if err != nil {
				return err
			}
			storetest.Check(t, "Liability("+c.programme+")", got, c.want)
		}

		for _, c := range []struct {
			programme string
			want      time.Time
		}{{"p", day(-1)}, {"q", day(-5)}, {"r", time.Time{}}} {
			got, err := tx.FirstEnrolment(ctx, c.programme)
			if err != nil {
				return err
			}
			storetest.Check(t, "FirstEnrolment("+c.programme+")", got, c.want)
			if got.IsZero() != c.want.IsZero() {
				t.Errorf("FirstEnrolment(%s) = %v, want %v", c.programme, got, c.want)
			}
		}
		return nil
	})
}

// Distribution counts a programme's members per tier or segment, leaving
// out members without one.
func distribution(t *testing.T, st Stores) {
	ms := func(id, programme, tier, segment string) *domain.MemberStatus {
		return &domain.MemberStatus{MemberID: id, ProgrammeID: programme, Tier: tier, Segment: segment}
	}
	statustest.Save(t, st.Status, &status.StatusWrites{At: day(1), NewStatuses: []*domain.MemberStatus{
		ms("m-a", "p", "silver", "champions"), ms("m-b", "p", "silver", ""), ms("m-c", "p", "gold", "at_risk"),
		ms("m-d", "p", "", "champions"), ms("m-e", "q", "silver", "champions"),
	}})
	View(t, st.Analytics, func(ctx context.Context, tx analytics.Reader) error {
		for _, c := range []struct {
			programme, kind string
			want            map[string]int64
		}{
			{"p", domain.TransitionTier, map[string]int64{"silver": 2, "gold": 1}},
			{"p", domain.TransitionSegment, map[string]int64{"champions": 2, "at_risk": 1}},
			{"q", domain.TransitionTier, map[string]int64{"silver": 1}},
			{"r", domain.TransitionSegment, map[string]int64{}},
		} {
			got, err := tx.Distribution(ctx, c.programme, c.kind)
			if err != nil {
				return err
			}
			storetest.Check(t, "Distribution("+c.programme+", "+c.kind+")", got, c.want)
		}
		return nil
	})
}

// ProgrammeStats counts, for (From, To], a programme's members enrolled
// by To, its buyers and their purchases (returns not counted), those
// made in store, its first purchase ever, and the anonymous sales
// reported for business days in (fromDay, toDay].
func programmeStats(t *testing.T, st Stores) {
	l := postingtest.NewLedger(t, st.Posting)
	for _, m := range []struct {
		id, programme string
		enrolled      time.Time
	}{
		{"m-a", "q", day(-5)}, {"m-b", "q", day(1)}, {"m-c", "q", day(6)}, {"m-d", "q", day(6).Add(time.Microsecond)}, {"m-e", "p", day(1)},
	} {
		l.Enrol(domain.Member{ID: m.id, ProgrammeID: m.programme, ExternalRef: "card-" + m.id, EnrolledAt: m.enrolled})
	}
	l.Do("m-a", postingtest.Purchase("5", domain.ChannelPOS, day(-3)))
	l.Do("m-a", postingtest.Purchase("6", domain.ChannelPOS, day(0)))
	l.Do("m-a", postingtest.Purchase("10", domain.ChannelPOS, day(2)))
	l.Do("m-a", postingtest.Purchase("20", domain.ChannelEcommerce, day(3)))
	bought := l.Do("m-b", postingtest.Purchase("30", domain.ChannelPOS, day(4)))[0]
	l.Do("m-b", postingtest.Reverse(l, bought, domain.Portion{Full: true}, domain.ChannelPOS, day(5)))
	l.Do("m-b", postingtest.Purchase("40", domain.ChannelEcommerce, day(6)))
	l.Do("m-d", postingtest.Purchase("50", domain.ChannelPOS, day(6).Add(time.Microsecond)))
	l.Do("m-e", postingtest.Purchase("60", domain.ChannelPOS, day(2)))
	var entries []*domain.Entry
	for _, id := range []string{"m-a", "m-b", "m-d", "m-e"} {
		entries = append(entries, l.Entries(id)...)
	}
	statustest.Project(t, st.Status, l.Cfg, day(7), entries...)
	for _, a := range []analytics.AnonymousSales{
		{ProgrammeID: "q", StoreID: "s1", BusinessDay: "2026-01-05", Transactions: 1000, CountedAt: day(0)},
		{ProgrammeID: "q", StoreID: "s1", BusinessDay: "2026-01-06", Transactions: 10, CountedAt: day(1)},
		{ProgrammeID: "q", StoreID: "s2", BusinessDay: "2026-01-11", Transactions: 5, CountedAt: day(6)},
		{ProgrammeID: "q", StoreID: "s1", BusinessDay: "2026-01-12", Transactions: 99, CountedAt: day(7)},
		{ProgrammeID: "p", StoreID: "s1", BusinessDay: "2026-01-06", Transactions: 77, CountedAt: day(1)},
	} {
		Update(t, st.Analytics, func(ctx context.Context, tx analytics.Writer) error {
			_, err := tx.SaveAnonymousSales(ctx, a)
			return err
		})
	}
	View(t, st.Analytics, func(ctx context.Context, tx analytics.Reader) error {
		got := &analytics.ProgrammeStats{ProgrammeID: "q", From: day(0), To: day(6)}
		if err := tx.ProgrammeStats(ctx, got, day(0).Format(time.DateOnly), day(6).Format(time.DateOnly)); err != nil {
			return err
		}
		storetest.Check(t, "ProgrammeStats(q)", got, &analytics.ProgrammeStats{ProgrammeID: "q", From: day(0), To: day(6),
			Members: 3, Buyers: 2, Purchases: 4, StorePurchases: 2, FirstPurchase: day(-3), AnonymousTransactions: 15, AnonymousStoreDays: 2})
		none := &analytics.ProgrammeStats{ProgrammeID: "r", From: day(0), To: day(6)}
		if err := tx.ProgrammeStats(ctx, none, "2026-01-05", "2026-01-11"); err != nil {
			return err
		}
		storetest.Check(t, "ProgrammeStats(r)", none, &analytics.ProgrammeStats{ProgrammeID: "r", From: day(0), To: day(6)})
		return nil
	})
}
