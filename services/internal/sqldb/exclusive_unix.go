//go:build unix

package sqldb

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// ErrInUse is the refusal of a second server on one SQLite file.
var ErrInUse = errors.New("in use by another server")

// LockServer claims an SQLite database file for the one server process
// that serves the named service on it: a second `fidelis serve` of the same
// service on the same file is refused with ErrInUse (SQLite has one
// writer; a service's caches assume one process), while servers of other
// services (services apart, sharing the file) and commands that open the
// file for a moment (keys, migrate, kpi) do not conflict with it. The
// claim is an flock on "<file>.<service>.lock", released by the kernel when
// the process ends, however it ends, so a server restarted after kill -9
// starts at once. Engines with several replicas (PostgreSQL, CockroachDB)
// are not claimed: release is a no-op.
func (db *DB) LockServer(service string) (release func(), err error) {
	path := strings.TrimPrefix(db.DSN, "sqlite:")
	if db.Dialect != SQLite || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return func() {}, nil
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	f, err := os.OpenFile(path+"."+service+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("SQLite database %s is %w of the %s service: run one `fidelis serve` of a service per file "+
				"(commands such as `fidelis keys` and `fidelis kpi --refresh` work alongside it), "+
				"or PostgreSQL or CockroachDB for several replicas", path, ErrInUse, service)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
