// Package progress lets long work report how far it is to whoever runs it
// (a long-running operation's runner), through its context: the work
// calls Report as it goes; without a reporter in the context, Report does
// nothing.
package progress

import "context"

// Func receives the number of items (members, entries) done so far.
type Func func(done int64)

type key struct{}

// With is ctx carrying f as its reporter.
func With(ctx context.Context, f Func) context.Context { return context.WithValue(ctx, key{}, f) }

// Report tells ctx's reporter, if any, that done items are done so far.
func Report(ctx context.Context, done int64) {
	if f, ok := ctx.Value(key{}).(Func); ok {
		f(done)
	}
}
