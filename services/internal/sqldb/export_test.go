package sqldb

// SetMaxAttempts bounds the whole-transaction retries of db, for tests that
// exhaust them.
func (db *DB) SetMaxAttempts(n int) { db.maxAttempts = n }

// MaxAttempts is how many times db runs a transaction at most.
func (db *DB) MaxAttempts() int { return db.maxAttempts }

// UseTableLock makes db migrate under the table lock CockroachDB uses, so
// that PostgreSQL can test it.
func (db *DB) UseTableLock() { db.tableLock = true }
