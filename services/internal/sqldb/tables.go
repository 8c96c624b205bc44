package sqldb

import (
	"context"
	"database/sql"
)

// Tables is a service's store on a database: its transactions, each seen
// through Open as T, the transaction interface the service's app owns.
// Embedded in a store, it gives the Update and View its app asks for.
type Tables[T any] struct {
	DB   *DB
	Open func(tx *sql.Tx) T
}

// Update runs fn in a read-write transaction (see DB.Update).
func (s Tables[T]) Update(ctx context.Context, fn func(ctx context.Context, tx T) error) error {
	return s.DB.Update(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, s.Open(tx)) })
}

// View runs fn in a read-only snapshot (see DB.View).
func (s Tables[T]) View(ctx context.Context, fn func(ctx context.Context, tx T) error) error {
	return s.DB.View(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, s.Open(tx)) })
}
