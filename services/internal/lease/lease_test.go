package lease_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/lease"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

func open(t *testing.T, db *sqldb.DB) {
	t.Helper()
	if err := lease.Migrate(context.Background(), db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE lease_test_writes (holder TEXT NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// Of three replicas running the same job, one runs it at any time; when
// it stops, another takes over at once (the lease is released).
func TestOneHolderAtATime(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		open(t, db)
		var running, maxRunning, runs atomic.Int64
		var holder atomic.Int64 // the index of the replica running the job, -1 for none
		holder.Store(-1)
		cancels := make([]context.CancelFunc, 3)
		var wg sync.WaitGroup
		for i := range cancels {
			ctx, cancel := context.WithCancel(context.Background())
			cancels[i] = cancel
			r := &lease.Runner{DB: db, Holder: string(rune('a' + i)), TTL: 600 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
			wg.Go(func() {
				r.Run(ctx, "job", func(ctx context.Context) {
					runs.Add(1)
					n := running.Add(1)
					for m := maxRunning.Load(); n > m && !maxRunning.CompareAndSwap(m, n); m = maxRunning.Load() {
					}
					holder.Store(int64(i))
					<-ctx.Done()
					holder.CompareAndSwap(int64(i), -1)
					running.Add(-1)
				})
			})
		}
		waitFor(t, func() bool { return holder.Load() >= 0 })
		time.Sleep(time.Second) // renewals keep the holder; nobody else starts
		if runs.Load() != 1 {
			t.Fatalf("%d runs started, want 1", runs.Load())
		}
		// Stop the holder, twice: another replica takes over, within a
		// fraction of the lease (it was released, not left to expire).
		for round := 2; round <= 3; round++ {
			stopped := time.Now()
			cancels[holder.Load()]()
			waitFor(t, func() bool { return runs.Load() == int64(round) && holder.Load() >= 0 })
			if took := time.Since(stopped); took > 600*time.Millisecond {
				t.Errorf("the takeover took %v, longer than the lease", took)
			}
		}
		for _, c := range cancels {
			c()
		}
		wg.Wait()
		if maxRunning.Load() != 1 {
			t.Errorf("%d replicas ran the job at once", maxRunning.Load())
		}
	})
}

// A holder that was paused past its lease, which another replica then took,
// cannot write when it wakes up: its transactions fail with ErrLost and
// write nothing.
func TestFencedAfterTakeover(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		open(t, db)
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		write := func(ctx context.Context, who string) error {
			return db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO lease_test_writes (holder) VALUES ($1)`, who)
				return err
			})
		}
		ttl := time.Hour // renewals never come: the clock is moved instead
		a := &lease.Runner{DB: db, Holder: "a", TTL: ttl, Log: slog.New(slog.DiscardHandler), Now: clock}
		b := &lease.Runner{DB: db, Holder: "b", TTL: ttl, Log: slog.New(slog.DiscardHandler), Now: clock}
		aWoke, aDone := make(chan error), make(chan struct{})
		paused := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go a.Run(ctx, "job", func(ctx context.Context) {
			if err := write(ctx, "a"); err != nil {
				t.Errorf("a's write as holder: %v", err)
			}
			close(paused)
			<-aDone // "paused" past its lease
			aWoke <- write(ctx, "a-late")
			<-ctx.Done()
		})
		<-paused
		advance(2 * ttl) // a's lease expired; b takes it
		bRan := make(chan struct{})
		bctx, bcancel := context.WithCancel(ctx)
		defer bcancel()
		go b.Run(bctx, "job", func(ctx context.Context) {
			if err := write(ctx, "b"); err != nil {
				t.Errorf("b's write as the new holder: %v", err)
			}
			close(bRan)
			<-ctx.Done()
		})
		<-bRan
		close(aDone)
		if err := <-aWoke; !errors.Is(err, lease.ErrLost) {
			t.Errorf("the paused holder's write: %v, want ErrLost", err)
		}
		var late int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM lease_test_writes WHERE holder = 'a-late'`).Scan(&late); err != nil {
			t.Fatal(err)
		}
		if late != 0 {
			t.Errorf("the paused holder wrote %d rows after losing its lease", late)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
