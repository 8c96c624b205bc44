//go:build !unix

package sqldb

// LockServer claims nothing where flock is not available.
func (db *DB) LockServer(string) (release func(), err error) { return func() {}, nil }
