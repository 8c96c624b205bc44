package grpcapi_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

var now = &ledgerv1.WatchEventsRequest_Now{Now: &emptypb.Empty{}}

func after(cursor string) *ledgerv1.WatchEventsRequest_Cursor {
	return &ledgerv1.WatchEventsRequest_Cursor{Cursor: cursor}
}

// recv takes the next message of a stream; nil when none came within d.
func recv(t *testing.T, msgs <-chan *ledgerv1.WatchEventsResponse, d time.Duration) *ledgerv1.WatchEventsResponse {
	t.Helper()
	select {
	case m, ok := <-msgs:
		if !ok {
			t.Fatal("stream ended")
		}
		return m
	case <-time.After(d):
		return nil
	}
}

// nextCheckpoint skips events up to the next checkpoint and returns its
// cursor and the events skipped.
func nextCheckpoint(t *testing.T, msgs <-chan *ledgerv1.WatchEventsResponse) (string, []*ledgerv1.MemberEvent) {
	t.Helper()
	var events []*ledgerv1.MemberEvent
	for {
		m := recv(t, msgs, 10*time.Second)
		if m == nil {
			t.Fatal("no checkpoint within 10s")
		}
		if c := m.GetCheckpoint(); c != nil {
			return c.GetCursor(), events
		}
		events = append(events, m.GetEvent())
	}
}

// openErr is the error a stream's request ends with, before any message.
func openErr(env *ledgertest.Env, req *ledgerv1.WatchEventsRequest) error {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := env.Status.WatchEvents(c, req)
	if err == nil {
		_, err = stream.Recv()
	}
	return err
}

// A consumer whose filter matches nothing still gets checkpoints, and
// their cursors move on with the stream: resuming from one sends only what
// came after it.
func TestWatchEventsCheckpointsAdvanceAFilteredCursor(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		quiet, busy := enrol(t, env, "test"), enrol(t, env, "test")
		msgs, stop := watchAll(t, env, &ledgerv1.WatchEventsRequest{Start: now, MemberId: quiet,
			CheckpointInterval: durationpb.New(time.Second)})
		defer stop()
		first, events := nextCheckpoint(t, msgs)
		if len(events) != 0 {
			t.Fatalf("events before the first checkpoint: %v", events)
		}
		earnPoints(t, env, busy, 10)
		earnPoints(t, env, busy, 20)
		var moved string
		for deadline := time.Now().Add(10 * time.Second); moved == "" || moved == first; {
			if time.Now().After(deadline) {
				t.Fatal("the checkpoints' cursor did not move on")
			}
			var events []*ledgerv1.MemberEvent
			if moved, events = nextCheckpoint(t, msgs); len(events) != 0 {
				t.Fatalf("another member's events passed the filter: %v", events)
			}
		}
		// Everything up to the checkpoint was passed over: the whole stream
		// from it has only what comes later.
		earnPoints(t, env, busy, 30)
		rest, stop2 := watch(t, env, &ledgerv1.WatchEventsRequest{Start: after(moved)})
		defer stop2()
		if e := next(t, rest); e.GetPoints() != 30 {
			t.Fatalf("resumed from the checkpoint at %v, want the earn of 30", e)
		}
	})
}

// Resuming from the last message processed — an event or a checkpoint —
// loses nothing and sends nothing twice.
func TestWatchEventsResumesExactly(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		msgs, stop := watchAll(t, env, &ledgerv1.WatchEventsRequest{Start: now, MemberId: m,
			CheckpointInterval: durationpb.New(time.Second)})
		nextCheckpoint(t, msgs)
		e1 := earnPoints(t, env, m, 1).GetEntry().GetEntryId()
		e2 := earnPoints(t, env, m, 2).GetEntry().GetEntryId()
		cp, got := nextCheckpoint(t, msgs)
		for len(got) < 2 { // the earns may straddle a checkpoint
			var more []*ledgerv1.MemberEvent
			cp, more = nextCheckpoint(t, msgs)
			got = append(got, more...)
		}
		stop()
		if len(got) != 2 || got[0].GetEntryId() != e1 || got[1].GetEntryId() != e2 {
			t.Fatalf("live events %v", got)
		}
		e3 := earnPoints(t, env, m, 3).GetEntry().GetEntryId()
		e4 := earnPoints(t, env, m, 4).GetEntry().GetEntryId()
		for name, cursor := range map[string]string{"the checkpoint": cp, "the last event": got[1].GetCursor()} {
			msgs, stop := watchAll(t, env, &ledgerv1.WatchEventsRequest{Start: after(cursor), MemberId: m,
				CheckpointInterval: durationpb.New(time.Second)})
			start, events := nextCheckpoint(t, msgs)
			if start != cursor || len(events) != 0 {
				t.Fatalf("from %s: first checkpoint %q after %v, want %q first", name, start, events, cursor)
			}
			_, events = nextCheckpoint(t, msgs)
			for len(events) < 2 {
				_, more := nextCheckpoint(t, msgs)
				events = append(events, more...)
			}
			stop()
			if len(events) != 2 || events[0].GetEntryId() != e3 || events[1].GetEntryId() != e4 {
				t.Fatalf("from %s: %v, want the earns of 3 and 4 once each", name, events)
			}
		}
	})
}

// A stream that starts from a time begins at the first event recorded at
// or after it; a time in the future is refused.
func TestWatchEventsFromATime(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		// An event is recorded when the projector appends it: project
		// each earn before the clock moves on.
		project := func() {
			t.Helper()
			if _, err := env.Ledger.Status.Project(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		earnPoints(t, env, m, 1)
		project()
		env.Clock.Advance(time.Hour)
		since := env.Clock.Now()
		earnPoints(t, env, m, 2)
		project()
		env.Clock.Advance(time.Hour)
		earnPoints(t, env, m, 3)
		events, stop := watch(t, env, &ledgerv1.WatchEventsRequest{
			Start: &ledgerv1.WatchEventsRequest_StartTime{StartTime: timestamppb.New(since)}, MemberId: m})
		defer stop()
		for _, want := range []int64{2, 3} {
			if e := next(t, events); e.GetPoints() != want || e.GetRecordedTime().AsTime().Before(since) {
				t.Fatalf("from %s: %v, want the earn of %d", since, e, want)
			}
		}
		err := openErr(env, &ledgerv1.WatchEventsRequest{
			Start: &ledgerv1.WatchEventsRequest_StartTime{StartTime: timestamppb.New(env.Clock.Now().Add(time.Minute))}})
		wantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	})
}

// A rebuild starts a new epoch of the stream: a cursor of the earlier one
// is refused (FAILED_PRECONDITION, CURSOR_STALE) with how to resync, and
// so is a stream that is open when it happens; starting again from the
// recorded time of the last event processed loses nothing.
func TestWatchEventsStaleCursorAfterRebuild(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 1)
		msgs, stop := watchAll(t, env, &ledgerv1.WatchEventsRequest{Start: fromTheStart, MemberId: m})
		defer stop()
		_, events := nextCheckpoint(t, msgs) // the stream's start
		for len(events) == 0 {
			events = append(events, recv(t, msgs, 10*time.Second).GetEvent())
		}
		last := events[0]
		c, cancel := context.WithCancel(ctx(t))
		defer cancel()
		open, err := env.Status.WatchEvents(c, &ledgerv1.WatchEventsRequest{Start: after(last.GetCursor()), MemberId: m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := open.Recv(); err != nil { // its first checkpoint
			t.Fatal(err)
		}
		env.Clock.Advance(time.Minute)
		if err := env.Ledger.Status.Rebuild(ctx(t)); err != nil {
			t.Fatal(err)
		}
		for {
			r, err := open.Recv()
			if err != nil {
				wantReason(t, err, codes.FailedPrecondition, "CURSOR_STALE")
				break
			}
			if r.GetEvent() != nil {
				t.Fatalf("an open stream sent %v across the rebuild", r)
			}
		}
		err = openErr(env, &ledgerv1.WatchEventsRequest{Start: after(last.GetCursor())})
		info := errorInfo(wantReason(t, err, codes.FailedPrecondition, "CURSOR_STALE"))
		if info.GetMetadata()["stream_epoch"] != "2" || info.GetMetadata()["cursor_epoch"] != "1" {
			t.Fatalf("metadata %v", info.GetMetadata())
		}
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "start_time") {
			t.Fatalf("message %q does not say how to resync", msg)
		}
		// Resync: the earn again (same id), then what comes next.
		earnPoints(t, env, m, 2)
		again, stop2 := watch(t, env, &ledgerv1.WatchEventsRequest{
			Start: &ledgerv1.WatchEventsRequest_StartTime{StartTime: last.GetRecordedTime()}, MemberId: m})
		defer stop2()
		if e := next(t, again); e.GetEventId() != last.GetEventId() {
			t.Fatalf("resynced at %v, want %s again", e, last.GetEventId())
		}
		if e := next(t, again); e.GetPoints() != 2 {
			t.Fatalf("after the resync: %v", e)
		}
	})
}

// A filter naming what does not exist is refused instead of streaming
// nothing; so is a cursor that is not of this stream.
func TestWatchEventsRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		wantReason(t, openErr(env, &ledgerv1.WatchEventsRequest{Start: now, ProgrammeId: "nope"}), codes.NotFound, "PROGRAMME_NOT_FOUND")
		wantReason(t, openErr(env, &ledgerv1.WatchEventsRequest{Start: now, MemberId: "01a23098-0fbc-7d66-adf4-e56f036959ae"}),
			codes.NotFound, "MEMBER_NOT_FOUND")
		wantReason(t, openErr(env, &ledgerv1.WatchEventsRequest{Start: after("bm90LWEtY3Vyc29y")}), codes.InvalidArgument, "INVALID_ARGUMENT")
		// A cursor ahead of the stream (of another database, say) is no
		// cursor of this one.
		ahead := base64.RawURLEncoding.EncodeToString([]byte("c1:1:1000"))
		wantReason(t, openErr(env, &ledgerv1.WatchEventsRequest{Start: after(ahead)}), codes.InvalidArgument, "INVALID_ARGUMENT")
	})
}
