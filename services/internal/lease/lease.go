// Package lease runs a job once per cluster: of the replicas that run it,
// the one that holds the job's lease in the database runs it, and another
// takes over when the holder stops renewing it (stopped, crashed, cut off).
//
// The lease fences its holder's writes: each lease has a token, raised at
// every change of holder, and every read-write transaction the job runs
// (sqldb.Update, UpdateSnapshot) first locks the lease's row and checks the
// token is still its own and the lease unexpired. A holder paused past its
// lease (a long GC pause, a frozen VM) that wakes up cannot write: its
// next transaction fails with ErrLost, and a new holder cannot take the
// lease while a transaction of the old one holds the row.
package lease

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates the leases table.
func Migrate(ctx context.Context, db *sqldb.DB, log *slog.Logger) error {
	return db.Migrate(ctx, migrations, "migrations", "lease_schema_version", log)
}

// Schema is the lease schema's migrations, whose version a server that does
// not migrate waits for.
func Schema() sqldb.Schema {
	return sqldb.Schema{FS: migrations, Dir: "migrations", Table: "lease_schema_version"}
}

// ErrLost is the error of a transaction of a job whose lease was lost.
var ErrLost = errors.New("lease lost: another replica runs the job now")

// Runner runs jobs under leases of one database, as holder (a name unique
// to the process, e.g. host name and process id).
type Runner struct {
	DB     *sqldb.DB
	Holder string
	// TTL is how long a lease lasts unrenewed (default 15 s): how long a
	// job stands still after its holder dies. It is renewed every TTL/3.
	TTL time.Duration
	Log *slog.Logger
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Held, if set, is told when this replica takes a lease (true) and
	// when it releases or loses it (false): the process's metrics.
	Held func(name string, held bool)
}

func (r *Runner) ttl() time.Duration {
	if r.TTL <= 0 {
		return 15 * time.Second
	}
	return r.TTL
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Runner) held(name string, held bool) {
	if r.Held != nil {
		r.Held(name, held)
	}
}

// Run runs job under the lease name until ctx ends: while another replica
// holds the lease it waits, trying again every TTL/3 (with jitter); once it
// holds it, it runs job with a context that ends when the lease is lost
// (a renewal failed or found another holder), then tries again. The job's
// read-write transactions are fenced (see the package comment). On ctx's
// end the lease is released, so another replica takes over at once.
func (r *Runner) Run(ctx context.Context, name string, job func(ctx context.Context)) {
	for ctx.Err() == nil {
		token, err := r.acquire(ctx, name)
		if err != nil && ctx.Err() == nil {
			r.Log.DebugContext(ctx, "lease: not acquired", slog.String("lease", name), slog.Any("error", err))
		}
		if token == 0 {
			if !sleep(ctx, jitter(r.ttl()/3)) {
				return
			}
			continue
		}
		r.Log.InfoContext(ctx, "lease acquired: this replica runs the job", slog.String("lease", name), slog.Int64("token", token))
		r.held(name, true)
		r.hold(ctx, name, token, job)
		r.held(name, false)
	}
}

// hold runs job while it renews the lease, and releases the lease after.
func (r *Runner) hold(ctx context.Context, name string, token int64, job func(ctx context.Context)) {
	jctx, cancel := context.WithCancel(sqldb.WithFence(ctx, r.fence(name, token)))
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		job(jctx)
	}()
	t := time.NewTicker(r.ttl() / 3)
	defer t.Stop()
	for {
		select {
		case <-done:
			r.release(name, token)
			return
		case <-ctx.Done():
			<-done
			r.release(name, token)
			return
		case <-t.C:
			if err := r.renew(ctx, name, token); err != nil {
				if ctx.Err() == nil {
					r.Log.WarnContext(ctx, "lease lost: the job stops here", slog.String("lease", name), slog.Any("error", err))
				}
				cancel()
				<-done
				return
			}
		}
	}
}

// acquire takes the lease if it is free, expired or already this holder's,
// and returns its new token; 0 when another replica holds it. It locks the
// lease's row first, so it waits for the transactions of a holder in
// flight (see fence).
func (r *Runner) acquire(ctx context.Context, name string) (int64, error) {
	now := r.now()
	var token int64
	err := r.DB.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		token = 0
		var holder string
		var current, expires int64
		err := tx.QueryRowContext(ctx, `SELECT holder, token, expires_at FROM fidelis_leases WHERE name = $1`+r.DB.ForUpdate("fidelis_leases"), name).
			Scan(&holder, &current, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO fidelis_leases (name, holder, token, expires_at) VALUES ($1, $2, 1, $3)`,
				name, r.Holder, now.Add(r.ttl()).UnixMicro())
			token = 1
			return err
		case err != nil:
			return err
		case expires >= now.UnixMicro() && holder != r.Holder:
			return nil // held by another replica
		}
		token = current + 1
		_, err = tx.ExecContext(ctx, `UPDATE fidelis_leases SET holder = $1, token = $2, expires_at = $3 WHERE name = $4`,
			r.Holder, token, now.Add(r.ttl()).UnixMicro(), name)
		return err
	})
	if err != nil {
		return 0, err
	}
	return token, nil
}

// renew extends the lease while it is still this holder's (no other
// replica took it over). It does not wait for the holder's transactions in
// flight: their fence locks the row in a mode a plain update does not
// conflict with.
func (r *Runner) renew(ctx context.Context, name string, token int64) error {
	return r.DB.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE fidelis_leases SET expires_at = $1 WHERE name = $2 AND token = $3`,
			r.now().Add(r.ttl()).UnixMicro(), name, token)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(ErrLost, err)
		}
		return nil
	})
}

// release gives the lease up, if it is still this holder's.
func (r *Runner) release(name string, token int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.DB.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE fidelis_leases SET expires_at = 0 WHERE name = $1 AND token = $2`, name, token)
		return err
	})
	if err != nil {
		r.Log.WarnContext(ctx, "lease: release failed; it expires by itself", slog.String("lease", name), slog.Any("error", err))
	}
}

// fence checks, first in each of the job's read-write transactions, that
// the lease is still the job's (no other replica took it over). The check
// holds the row until the transaction ends against a takeover: on
// PostgreSQL with FOR KEY SHARE (which acquire's FOR UPDATE waits for, and
// the holder's own renewals, plain updates, do not); on CockroachDB the
// transaction is serializable, so the takeover is ordered after it; SQLite
// runs one writer at a time.
func (r *Runner) fence(name string, token int64) sqldb.Fence {
	lock := ""
	if r.DB.Dialect == sqldb.Postgres {
		lock = " FOR KEY SHARE"
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		var got int64
		if err := tx.QueryRowContext(ctx, `SELECT token FROM fidelis_leases WHERE name = $1`+lock, name).Scan(&got); err != nil {
			return fmt.Errorf("lease %s: %w", name, err)
		}
		if got != token {
			return fmt.Errorf("lease %s: %w", name, ErrLost)
		}
		return nil
	}
}

func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d) }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
