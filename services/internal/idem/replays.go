package idem

import (
	"context"
	"sync/atomic"
)

// replayKey keys the replay mark of a request's context.
type replayKey struct{}

// WatchReplays returns a context under which a request that is answered
// with the outcome stored under its idempotency key is marked so
// (NoteReplay), and a function that tells whether it was: the server's
// access log and metrics read it once the call ends.
func WatchReplays(ctx context.Context) (context.Context, func() bool) {
	var mark atomic.Bool
	return context.WithValue(ctx, replayKey{}, &mark), mark.Load
}

// NoteReplay marks the request of ctx as answered from its stored
// outcome. Without WatchReplays it does nothing.
func NoteReplay(ctx context.Context) {
	if mark, ok := ctx.Value(replayKey{}).(*atomic.Bool); ok {
		mark.Store(true)
	}
}
