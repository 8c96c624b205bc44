package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
)

// idemT0 is when the records of Idem and PurgeIdem are written.
var idemT0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func idemView[T idem.Tx](t testing.TB, s idem.Store[T], fn func(ctx context.Context, tx T) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func idemUpdate[T idem.Tx](t testing.TB, s idem.Store[T], fn func(ctx context.Context, tx T) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// Records reads the records of keys, nil for a free key.
func Records[T idem.Tx](ctx context.Context, tx T, keys ...idem.Key) ([]*idem.Record, error) {
	out := make([]*idem.Record, len(keys))
	for i, k := range keys {
		var err error
		if out[i], err = tx.Idem(ctx, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Idem states what a service's idempotency table must do, through its
// store s (whose transactions are idem.Tx) and conflict, the service's
// error for a key taken:
//
//   - a record reads back as put (method, hash, hash version, subject,
//     reply, time), in its transaction and after, per caller and key; a
//     claim (no reply yet) reads back with an empty one;
//   - a key is claimed once: a second PutIdem fails with conflict, and so
//     does its transaction, and the first record stands;
//   - FinishIdem stores the reply of an open claim, once: it is false, and
//     changes nothing, for a record that holds a reply already (put with
//     one, or finished before) and for a free key, which it does not claim.
func Idem[T idem.Tx](t *testing.T, s idem.Store[T], conflict error) {
	k := idem.Key{Caller: "pos-1", Key: "k1"}
	done := idem.Record{Key: k, Method: "Redeem", Hash: []byte("hash\x00\xff"), HashVersion: 3, Subject: "red-1",
		Response: []byte(`{"ok":true}`), CreatedAt: idemT0}
	claim := idem.Record{Key: idem.Key{Caller: "pos-1", Key: "k2"}, Method: "Cancel", Hash: []byte("h2"), HashVersion: 1,
		Subject: "red-2", CreatedAt: idemT0.Add(time.Second)}
	other := idem.Record{Key: idem.Key{Caller: "pos-2", Key: "k1"}, Method: "Consume", Hash: []byte("h3"), HashVersion: 2,
		Response: []byte("stored refusal"), CreatedAt: idemT0.Add(time.Microsecond)}
	free := idem.Key{Caller: "pos-1", Key: "k3"}
	idemUpdate(t, s, func(ctx context.Context, tx T) error {
		got, err := tx.Idem(ctx, k)
		if err != nil {
			return err
		}
		Check(t, "Idem of a free key", got, (*idem.Record)(nil))
		if err := tx.PutIdem(ctx, done); err != nil {
			return err
		}
		got, err = tx.Idem(ctx, k)
		Check(t, "Idem in its transaction", got, &done)
		return err
	})
	idemUpdate(t, s, func(ctx context.Context, tx T) error {
		if err := tx.PutIdem(ctx, claim); err != nil {
			return err
		}
		return tx.PutIdem(ctx, other)
	})
	openClaim := claim
	openClaim.Response = []byte{}
	check := func(what string, want ...*idem.Record) {
		t.Helper()
		idemView(t, s, func(ctx context.Context, tx T) error {
			got, err := Records(ctx, tx, k, claim.Key, other.Key, free)
			Check(t, what, got, append(want, nil))
			return err
		})
	}
	check("put", &done, &openClaim, &other)

	for _, taken := range []idem.Record{
		{Key: k, Method: "Redeem", Hash: []byte("other"), HashVersion: 1, Response: []byte("other"), CreatedAt: idemT0.Add(time.Hour)},
		{Key: claim.Key, Method: "Other", Hash: []byte("other"), HashVersion: 1, CreatedAt: idemT0.Add(time.Hour)},
	} {
		var opErr error
		err := s.Update(context.Background(), func(ctx context.Context, tx T) error {
			opErr = tx.PutIdem(ctx, taken)
			return opErr
		})
		if !errors.Is(opErr, conflict) || !errors.Is(err, conflict) {
			t.Errorf("PutIdem of the key %v taken: %v, transaction: %v; want %v from both", taken.Key, opErr, err, conflict)
		}
	}
	check("after PutIdem of keys taken", &done, &openClaim, &other)

	finish := func(k idem.Key, response string, want bool) {
		t.Helper()
		idemUpdate(t, s, func(ctx context.Context, tx T) error {
			ok, err := tx.FinishIdem(ctx, k, []byte(response))
			if ok != want {
				t.Errorf("FinishIdem(%v, %q) = %v, want %v", k, response, ok, want)
			}
			return err
		})
	}
	finish(k, "late", false)      // put with its reply
	finish(other.Key, "x", false) // the same key of another caller
	finish(free, "x", false)      // a free key stays free
	check("after FinishIdem of records done and of a free key", &done, &openClaim, &other)
	finish(claim.Key, "first", true)
	finished := claim
	finished.Response = []byte("first")
	check("after FinishIdem of a claim", &done, &finished, &other)
	finish(claim.Key, "second", false) // the first reply stands
	check("after FinishIdem of a claim finished", &done, &finished, &other)
}

// PurgeIdem states what a service's purge of its idempotency records must
// do, given its store s and its purge (Store.PurgeIdem): purge(before)
// deletes every record written before before, however many (more than one
// batch of the SQL stores' purge), returns how many, and keeps the records
// written at before or later; replicas purging at once delete every record
// once between them.
func PurgeIdem[T idem.Tx](t *testing.T, s idem.Store[T], purge func(ctx context.Context, before time.Time) (int, error)) {
	const old = 1500
	before := idemT0.Add(24 * time.Hour)
	young := []idem.Record{
		{Key: idem.Key{Caller: "c", Key: "at-before"}, Method: "M", Hash: []byte("h"), HashVersion: 1, CreatedAt: before},
		{Key: idem.Key{Caller: "c", Key: "after"}, Method: "M", Hash: []byte("h"), HashVersion: 2, Subject: "s",
			Response: []byte("r"), CreatedAt: before.Add(time.Hour)},
	}
	young[0].Response = []byte{}
	put := func(round int) {
		t.Helper()
		for from := 0; from < old; from += 500 {
			idemUpdate(t, s, func(ctx context.Context, tx T) error {
				for i := from; i < min(from+500, old); i++ {
					if err := tx.PutIdem(ctx, idem.Record{Key: idem.Key{Caller: "c", Key: fmt.Sprintf("old-%d-%04d", round, i)},
						Method: "M", Hash: []byte("h"), HashVersion: 1, Response: []byte("r"),
						CreatedAt: before.Add(-time.Duration(i+1) * time.Microsecond)}); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	ctx := context.Background()
	idemUpdate(t, s, func(ctx context.Context, tx T) error {
		for _, r := range young {
			if err := tx.PutIdem(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	check := func(what string, round int) {
		t.Helper()
		idemView(t, s, func(ctx context.Context, tx T) error {
			got, err := Records(ctx, tx, young[0].Key, young[1].Key,
				idem.Key{Caller: "c", Key: fmt.Sprintf("old-%d-0000", round)}, idem.Key{Caller: "c", Key: fmt.Sprintf("old-%d-%04d", round, old-1)})
			Check(t, what, got, []*idem.Record{&young[0], &young[1], nil, nil})
			return err
		})
	}

	put(1)
	n, err := purge(ctx, before)
	if err != nil || n != old {
		t.Errorf("purge of %d old records: %d, %v", old, n, err)
	}
	check("after a purge", 1)
	if n, err := purge(ctx, before); err != nil || n != 0 {
		t.Errorf("purge again: %d, %v; want 0", n, err)
	}

	put(2)
	var wg sync.WaitGroup
	var counts [2]int
	for i := range counts {
		wg.Go(func() {
			var err error
			if counts[i], err = purge(ctx, before); err != nil {
				t.Errorf("concurrent purge %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if counts[0]+counts[1] != old {
		t.Errorf("two concurrent purges of %d old records deleted %d and %d", old, counts[0], counts[1])
	}
	check("after concurrent purges", 2)
	if n, err := purge(ctx, before.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("purge before the young record at %s: %d, %v; want 1", before, n, err)
	}
	idemView(t, s, func(ctx context.Context, tx T) error {
		got, err := Records(ctx, tx, young[0].Key, young[1].Key)
		Check(t, "after a later purge", got, []*idem.Record{nil, &young[1]})
		return err
	})
}
