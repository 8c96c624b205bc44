package idemsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem/idemsql"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// schema is a service's idempotency table, as the services' migrations
// make it, and a table for the requests' own writes.
var schema = fstest.MapFS{"m/00001_test.sql": &fstest.MapFile{Data: []byte(`-- +goose Up
CREATE TABLE test_idempotency (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    method       TEXT NOT NULL,
    request_hash {{.Bytes}} NOT NULL,
    hash_version INTEGER NOT NULL DEFAULT 1,
    subject_id   TEXT NOT NULL,
    response     {{.Bytes}} NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);
CREATE INDEX test_idempotency_created ON test_idempotency (created_at);
CREATE TABLE test_things (id TEXT PRIMARY KEY);

-- +goose Down
DROP TABLE test_things;
DROP TABLE test_idempotency;
`)}}

const table = idemsql.Table("test_idempotency")

var errConflict = errors.New("test: concurrent conflict")

// store is a service's store as the flows see it.
type store struct{ db *sqldb.DB }

type txn struct{ tx *sql.Tx }

func (s store) Update(ctx context.Context, fn func(ctx context.Context, tx *txn) error) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, &txn{tx}) })
}

func (s store) View(ctx context.Context, fn func(ctx context.Context, tx *txn) error) error {
	return s.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, &txn{tx}) })
}

func (t *txn) Idem(ctx context.Context, k idem.Key) (*idem.Record, error) {
	return table.Get(ctx, t.tx, k)
}

func (t *txn) PutIdem(ctx context.Context, r idem.Record) error {
	err := table.Put(ctx, t.tx, r)
	if errors.Is(err, idemsql.ErrKeyTaken) {
		return fmt.Errorf("%w: %w", errConflict, err)
	}
	return err
}

func (t *txn) FinishIdem(ctx context.Context, k idem.Key, response []byte) (bool, error) {
	return table.Finish(ctx, t.tx, k, response)
}

func (t *txn) insertThing(ctx context.Context, id string) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO test_things (id) VALUES ($1)`, id)
	return err
}

func open(t *testing.T, db *sqldb.DB) idem.Flow[*txn] {
	t.Helper()
	if err := db.Migrate(context.Background(), schema, "m", "test_schema_version", slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return idem.Flow[*txn]{Store: store{db}, Conflict: errConflict}
}

func count(t *testing.T, db *sqldb.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func record(t *testing.T, f idem.Flow[*txn], k idem.Key) *idem.Record {
	t.Helper()
	var rec *idem.Record
	if err := f.Store.View(context.Background(), func(ctx context.Context, tx *txn) error {
		var err error
		rec, err = tx.Idem(ctx, k)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rec
}

func request(t *testing.T, method, body string) idem.Request {
	t.Helper()
	r, err := idem.NewRequest(method, 1, func(int) any {
		return struct {
			Body string `json:"body"`
		}{body}
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type reply struct {
	ID     string
	Secret string `json:"-"`
}

// Twenty concurrent claims of one key: one is taken, the others find it.
func TestClaimRace(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := open(t, db)
		ctx := context.Background()
		k := idem.Key{Caller: "pos-1", Key: "checkout-1"}
		req := request(t, "Redeem", "r-1")
		var claimed atomic.Int32
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range 20 {
			wg.Go(func() {
				mine := false
				errs[i] = f.Store.Update(ctx, func(ctx context.Context, tx *txn) error {
					mine = false
					if rec, err := tx.Idem(ctx, k); err != nil || rec != nil {
						return err
					}
					mine = true
					return tx.PutIdem(ctx, req.Record(k, fmt.Sprint("subject-", i), nil, time.Now()))
				})
				if errs[i] == nil && mine {
					claimed.Add(1)
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil && !errors.Is(err, errConflict) {
				t.Errorf("claim %d: %v", i, err)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM test_idempotency`); n != 1 || claimed.Load() != 1 {
			t.Fatalf("%d records, %d claims committed, want 1 and 1", n, claimed.Load())
		}
	})
}

// Twenty concurrent requests with one key through Claim: one subject is
// created, every caller gets its reply.
func TestClaimFlowRace(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := open(t, db)
		k := idem.Key{Caller: "pos-1", Key: "checkout-1"}
		var created atomic.Int32
		steps := idem.Steps[*txn, string, *reply]{
			Create: func(ctx context.Context, tx *txn) (string, string, error) {
				id := fmt.Sprint("thing-", created.Add(1))
				return id, id, tx.insertThing(ctx, id)
			},
			Load:    func(_ context.Context, _ *txn, id string) (string, error) { return id, nil },
			Advance: func(_ context.Context, id string) (*reply, error) { return &reply{ID: id, Secret: "once"}, nil },
		}
		var wg sync.WaitGroup
		replies := make([]*reply, 20)
		errs := make([]error, 20)
		for i := range 20 {
			wg.Go(func() {
				replies[i], errs[i] = idem.Claim(context.Background(), f, k, request(t, "Redeem", "r-1"), steps)
			})
		}
		wg.Wait()
		things := count(t, db, `SELECT COUNT(*) FROM test_things`)
		for i := range 20 {
			if errs[i] != nil || replies[i] == nil || replies[i].ID != replies[0].ID {
				t.Fatalf("request %d: %+v %v, want %+v", i, replies[i], errs[i], replies[0])
			}
		}
		if things != 1 {
			t.Fatalf("%d subjects created, want 1", things)
		}
		if rec := record(t, f, k); !rec.Done() || rec.Subject != replies[0].ID {
			t.Fatalf("record %+v", rec)
		}
	})
}

// The first outcome stored stands.
func TestFinishFirstWins(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := open(t, db)
		ctx := context.Background()
		k := idem.Key{Caller: "c", Key: "k"}
		var first, second bool
		err := f.Store.Update(ctx, func(ctx context.Context, tx *txn) error {
			if err := tx.PutIdem(ctx, request(t, "M", "x").Record(k, "s", nil, time.Now())); err != nil {
				return err
			}
			var err error
			if first, err = tx.FinishIdem(ctx, k, []byte(`{"Result":1}`)); err != nil {
				return err
			}
			second, err = tx.FinishIdem(ctx, k, []byte(`{"Result":2}`))
			return err
		})
		if err != nil || !first || second {
			t.Fatalf("finish: %v %v %v", first, second, err)
		}
		if rec := record(t, f, k); string(rec.Response) != `{"Result":1}` {
			t.Fatalf("stored %s", rec.Response)
		}
	})
}

var seq atomic.Int64

// The purge deletes what is older than its cutoff, in batches, and keeps
// the rest; replicas purging at once delete each record once.
func TestPurge(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := open(t, db)
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		put := func(n int, age time.Duration) {
			t.Helper()
			if err := f.Store.Update(ctx, func(ctx context.Context, tx *txn) error {
				for range n {
					k := idem.Key{Caller: "c", Key: fmt.Sprintf("%s-%d", age, seq.Add(1))}
					if err := tx.PutIdem(ctx, request(t, "M", k.Key).Record(k, "", []byte("{}"), now.Add(-age))); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		put(7, 48*time.Hour)
		put(3, 24*time.Hour+time.Microsecond)
		put(1, 24*time.Hour) // exactly at the cutoff: kept
		put(4, time.Hour)
		n, err := table.Purge(ctx, db, now.Add(-24*time.Hour), 3)
		if err != nil || n != 10 {
			t.Fatalf("purged %d %v, want 10", n, err)
		}
		if left := count(t, db, `SELECT COUNT(*) FROM test_idempotency`); left != 5 {
			t.Fatalf("%d left, want 5", left)
		}
		if n, err := table.Purge(ctx, db, now.Add(-24*time.Hour), 3); err != nil || n != 0 {
			t.Fatalf("purged again: %d %v", n, err)
		}

		put(40, 30*time.Hour)
		other := sqldbtest.Reopen(t, db)
		var wg sync.WaitGroup
		ns := make([]int, 3)
		errs := make([]error, 3)
		for i, d := range []*sqldb.DB{db, other, other} {
			wg.Go(func() { ns[i], errs[i] = table.Purge(ctx, d, now.Add(-24*time.Hour), 4) })
		}
		wg.Wait()
		if errors.Join(errs...) != nil || ns[0]+ns[1]+ns[2] != 40 {
			t.Fatalf("concurrent purges: %v %v, want 40 in all", ns, errs)
		}
		if left := count(t, db, `SELECT COUNT(*) FROM test_idempotency`); left != 5 {
			t.Fatalf("%d left, want 5", left)
		}
	})
}

// Run stores a reply and a business refusal, replays them without running
// again; a bad request, a failure, and the refusal of a reused key are
// not stored; a refused request writes nothing of its own.
func TestRunFollowsTheRule(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := open(t, db)
		ctx := context.Background()
		k := func(key string) idem.Key { return idem.Key{Caller: "pos-1", Key: key} }
		runs := 0
		act := func(id string, refusal error) func(context.Context, *txn) (*reply, error) {
			return func(ctx context.Context, tx *txn) (*reply, error) {
				runs++
				if err := tx.insertThing(ctx, id); err != nil {
					return nil, err
				}
				return &reply{ID: id, Secret: "shown-once"}, refusal
			}
		}

		// A business refusal: stored, its writes rolled back, replayed as
		// it was even once the cause is gone.
		refusal := &fault.Error{Kind: fault.KindFailedPrecondition, Msg: "insufficient points: 100 available"}
		_, err := idem.Run(ctx, f, k("burn-1"), request(t, "Burn", "500"), nil, act("a", fmt.Errorf("ledger: %w", refusal)))
		if got, ok := fault.As(err); !ok || !reflect.DeepEqual(got, refusal) {
			t.Fatalf("refused: %v", err)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM test_things`); n != 0 {
			t.Fatalf("a refused request wrote %d rows", n)
		}
		_, err = idem.Run(ctx, f, k("burn-1"), request(t, "Burn", "500"), nil, act("a", nil))
		if got, ok := fault.As(err); !ok || !reflect.DeepEqual(got, refusal) || runs != 1 {
			t.Fatalf("retry after the cause is gone: %v (%d runs), want the refusal replayed", err, runs)
		}

		// A different request with a used key.
		_, err = idem.Run(ctx, f, k("burn-1"), request(t, "Burn", "99"), nil, act("b", nil))
		if !idem.IsKeyReused(err) || runs != 1 {
			t.Fatalf("another request with the key: %v", err)
		}

		// A bad request and a failure: not stored, the fixed retry runs.
		for _, why := range []error{fault.Invalid("points", "must be positive"), errors.New("connection reset"), fault.Unavailable(fault.ShuttingDown, "draining")} {
			key := k("earn-" + why.Error())
			if _, err := idem.Run(ctx, f, key, request(t, "Earn", "x"), nil, act("c", why)); !errors.Is(err, why) {
				t.Fatalf("run failing with %v: %v", why, err)
			}
			if rec := record(t, f, key); rec != nil {
				t.Fatalf("%v was stored: %+v", why, rec)
			}
			got, err := idem.Run(ctx, f, key, request(t, "Earn", "x"), nil, act("d-"+why.Error(), nil))
			if err != nil || got.ID != "d-"+why.Error() || got.Secret != "shown-once" {
				t.Fatalf("the retry: %+v %v", got, err)
			}
			again, err := idem.Run(ctx, f, key, request(t, "Earn", "x"), nil, act("e", nil))
			if err != nil || again.ID != got.ID || again.Secret != "" {
				t.Fatalf("the replay: %+v %v, want %s without its secret", again, err, got.ID)
			}
		}

		// A refusal by check: stored; check does not run again.
		checks := 0
		notFound := func(context.Context) error {
			checks++
			return fault.NotFound(fault.MemberNotFound, "member m-9 not found")
		}
		for range 2 {
			_, err := idem.Run(ctx, f, k("earn-m9"), request(t, "Earn", "m-9"), notFound, act("f", nil))
			if e, ok := fault.As(err); !ok || e.Kind != fault.KindNotFound || checks != 1 {
				t.Fatalf("checked %d times: %v", checks, err)
			}
		}
	})
}

// A refusal whose key a concurrent request took meanwhile replays that
// request's outcome.
func TestARefusalLosesToAConcurrentRequest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := open(t, db)
		ctx := context.Background()
		k := idem.Key{Caller: "pos-1", Key: "k"}
		req := request(t, "Earn", "x")
		check := func(ctx context.Context) error {
			// Another replica, with the same request, goes first.
			if _, err := idem.Run(ctx, f, k, req, nil, func(ctx context.Context, tx *txn) (*reply, error) {
				return &reply{ID: "theirs"}, tx.insertThing(ctx, "theirs")
			}); err != nil {
				t.Fatal(err)
			}
			return fault.Precondition(fault.ReasonFailedPrecondition, "stale view: refused")
		}
		got, err := idem.Run(ctx, f, k, req, check, func(context.Context, *txn) (*reply, error) {
			t.Fatal("ran after its check refused")
			return nil, nil
		})
		if err != nil || got.ID != "theirs" {
			t.Fatalf("got %+v %v, want the concurrent request's reply", got, err)
		}
	})
}

// A claimed request whose steps fail (another service unavailable) stays
// open and resumes; a refusal on creation writes nothing but the refusal.
func TestClaimResumesAndStoresTheOutcome(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := open(t, db)
		ctx := context.Background()
		k := idem.Key{Caller: "pos-1", Key: "redeem-1"}
		var down atomic.Int32
		down.Store(2)
		created := 0
		steps := idem.Steps[*txn, string, *reply]{
			Create: func(ctx context.Context, tx *txn) (string, string, error) {
				created++
				return "s-1", "s-1", tx.insertThing(ctx, "s-1")
			},
			Load: func(_ context.Context, _ *txn, id string) (string, error) { return id, nil },
			Advance: func(_ context.Context, id string) (*reply, error) {
				switch down.Add(-1) {
				case 1:
					return nil, errors.New("ledger unreachable")
				case 0:
					return nil, fault.Unavailable(fault.ShuttingDown, "ledger draining")
				}
				return &reply{ID: id}, nil
			},
		}
		for range 2 {
			if _, err := idem.Claim(ctx, f, k, request(t, "Redeem", "r"), steps); err == nil || idem.Storable(err) {
				t.Fatalf("advance failing: %v", err)
			}
			if rec := record(t, f, k); rec == nil || rec.Done() || rec.Subject != "s-1" {
				t.Fatalf("open claim: %+v", rec)
			}
		}
		got, err := idem.Claim(ctx, f, k, request(t, "Redeem", "r"), steps)
		if err != nil || got.ID != "s-1" || created != 1 {
			t.Fatalf("resumed: %+v %v, %d created", got, err, created)
		}
		if rec := record(t, f, k); !rec.Done() {
			t.Fatalf("not finished: %+v", rec)
		}

		refuse := steps
		refuse.Create = func(ctx context.Context, tx *txn) (string, string, error) {
			if err := tx.insertThing(ctx, "s-2"); err != nil {
				return "", "", err
			}
			return "", "", fault.Precondition(fault.RewardOutOfStock, "out of stock")
		}
		for range 2 {
			_, err := idem.Claim(ctx, f, idem.Key{Caller: "pos-1", Key: "redeem-2"}, request(t, "Redeem", "r"), refuse)
			if e, ok := fault.As(err); !ok || e.Msg != "out of stock" {
				t.Fatalf("refused on creation: %v", err)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM test_things`); n != 1 {
			t.Fatalf("%d subjects, want 1: the refused one is rolled back", n)
		}
	})
}

// conflicting fails every transaction with a conflict.
type conflicting struct{ updates *int }

func (c conflicting) Update(context.Context, func(context.Context, *txn) error) error {
	*c.updates++
	return fmt.Errorf("insert: %w", errConflict)
}

func (c conflicting) View(context.Context, func(context.Context, *txn) error) error { return nil }

// Conflicts are retried a bounded number of times, then the caller is told
// to retry.
func TestConflictsAreBounded(t *testing.T) {
	updates := 0
	f := idem.Flow[*txn]{Store: conflicting{&updates}, Conflict: errConflict}
	req, _ := idem.NewRequest("M", 1, func(int) any { return "x" })
	_, err := idem.Run(context.Background(), f, idem.Key{Caller: "c", Key: "k"}, req, nil,
		func(context.Context, *txn) (int, error) { return 1, nil })
	if e, ok := fault.As(err); !ok || e.Kind != fault.KindUnavailable || !errors.Is(err, errConflict) || updates != idem.Attempts {
		t.Fatalf("%v after %d transactions, want Unavailable after %d", err, updates, idem.Attempts)
	}
	updates = 0
	_, err = idem.Claim(context.Background(), f, idem.Key{Caller: "c", Key: "k"}, req, idem.Steps[*txn, int, int]{
		Create: func(context.Context, *txn) (int, string, error) { return 1, "1", nil },
	})
	if e, ok := fault.As(err); !ok || e.Kind != fault.KindUnavailable || updates != idem.Attempts {
		t.Fatalf("claim: %v after %d transactions", err, updates)
	}
}
