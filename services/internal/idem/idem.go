// Package idem is the idempotency the services share, one rule for all of
// them:
//
//   - a reply, and a business refusal (FailedPrecondition, NotFound,
//     PermissionDenied, AlreadyExists), are stored under the request's key
//     and replayed byte for byte to every retry;
//   - the same key with a different request is refused AlreadyExists
//     (reason IDEMPOTENCY_KEY_REUSED), and that refusal is not stored;
//   - a bad request (Invalid), a caller without credentials
//     (Unauthenticated), a service unavailable, a deadline and any failure
//     are not stored: the caller fixes the request, or waits, and retries
//     with the same key.
//
// The package has three parts. This file and reply.go and retention.go are
// pure (no I/O): keys and records, requests hashed over versioned forms,
// the rule (Storable), the stored form of a reply (EncodeReply,
// DecodeReply), and how long keys are kept (Retention). A service that
// batches its own transactions (the ledger) uses only these. flow.go holds
// the flows most services run, over the service's own Store and Tx: Run
// (a request that lives in one transaction) and Claim (a request that
// creates a subject and carries it on in steps). The SQL of an idempotency
// table is in idem/idemsql.
package idem

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Key scopes an idempotency key to its caller.
type Key struct {
	Caller string
	Key    string
}

// Record is a request's idempotency record: the request's fingerprint
// (Method, Hash, and the HashVersion of the form it was hashed in), what it
// created (Subject, for a claimed request), and, once finished, its stored
// outcome (Response; empty while a claimed request is in progress).
type Record struct {
	Key
	Method      string
	Hash        []byte
	HashVersion int
	Subject     string
	Response    []byte
	CreatedAt   time.Time
}

// Done tells whether the record holds the request's outcome.
func (r *Record) Done() bool { return len(r.Response) > 0 }

// Hash fingerprints a request form: the SHA-256 of the method, a zero byte
// and the form's JSON. Every hash version uses it; versions differ in their
// forms. (Version 1 of every method is the JSON of the request struct the
// service hashed before versions existed, byte for byte.)
func Hash(method string, form any) ([]byte, error) {
	b, err := json.Marshal(form)
	if err != nil {
		return nil, fmt.Errorf("hash %s request: %w", method, err)
	}
	h := sha256.Sum256(append([]byte(method+"\x00"), b...))
	return h[:], nil
}

// Request is an idempotent request as its key sees it: its method, the
// hash version new records are written with, its hash at that version,
// and its form at every version.
type Request struct {
	Method  string
	Version int
	Hash    []byte
	form    func(version int) any
}

// NewRequest fingerprints a request of method at hash version version.
// form returns the request's form at a version from 1 to version: a struct
// with explicit json tags, never the service's own request type (whose
// changes would silently change the hash). When a request changes shape,
// the method gets a new version and its older forms stay, so that a record
// written before the change still compares with the request it was written
// for. A request an older form cannot express (it sets a field added
// since) has no form there: form returns nil, and the request differs from
// every record of that version.
//
//	idem.NewRequest("Redeem", 2, func(v int) any {
//		if v == 1 {
//			if q.Quantity != 1 {
//				return nil
//			}
//			return redeemV1{MemberID: q.MemberID, ...}
//		}
//		return redeemV2{...}
//	})
func NewRequest(method string, version int, form func(version int) any) (Request, error) {
	r := Request{Method: method, Version: version, form: form}
	var err error
	if r.Hash, err = r.HashAt(version); errors.Is(err, errNoForm) {
		err = fmt.Errorf("%s has no form at its own version %d", method, version)
	}
	return r, err
}

// HashAt fingerprints the request in its form of a hash version.
func (r Request) HashAt(version int) ([]byte, error) {
	if version == r.Version && r.Hash != nil {
		return r.Hash, nil
	}
	if version < 1 || version > r.Version || r.form == nil {
		return nil, fmt.Errorf("%w: %s has no hash version %d (it is at %d)", ErrUnknownVersion, r.Method, version, r.Version)
	}
	f := r.form(version)
	if f == nil {
		return nil, fmt.Errorf("%w: %s at version %d", errNoForm, r.Method, version)
	}
	return Hash(r.Method, f)
}

// ErrUnknownVersion is a record written with a hash version this process
// does not know (written by a newer release, during a rolling deploy).
var ErrUnknownVersion = errors.New("unknown idempotency hash version")

// errNoForm is a request that an older form cannot express.
var errNoForm = errors.New("no form of the request")

// Matches is nil when rec was written for this request: the same method
// and the same hash, in the form of the version rec was written with. A
// different request is refused AlreadyExists (see IsKeyReused); a record
// of a version this process does not know is Unavailable, so that the
// caller retries, perhaps on a newer replica.
func (r Request) Matches(rec *Record) error {
	if rec.Method != r.Method {
		return keyReused(rec.Key.Key)
	}
	h, err := r.HashAt(rec.HashVersion)
	switch {
	case errors.Is(err, errNoForm):
		return keyReused(rec.Key.Key)
	case errors.Is(err, ErrUnknownVersion):
		return fmt.Errorf("%w: %w", fault.Unavailable(fault.IdempotencyKeyBusy, "idempotency key %q was written by a newer release: retry", rec.Key.Key), err)
	case err != nil:
		return err
	case !bytes.Equal(h, rec.Hash):
		return keyReused(rec.Key.Key)
	}
	return nil
}

// Record is the record of this request under k: a claim of subject while
// response is empty, else its outcome.
func (r Request) Record(k Key, subject string, response []byte, at time.Time) Record {
	return Record{Key: k, Method: r.Method, Hash: r.Hash, HashVersion: r.Version, Subject: subject, Response: response, CreatedAt: at}
}

func keyReused(key string) error {
	return fault.Exists(fault.IdempotencyKeyReused, "idempotency key %q was already used for a different request", key)
}

// IsKeyReused tells whether err is the refusal of a key already used for a
// different request (reason fault.IdempotencyKeyReused).
func IsKeyReused(err error) bool {
	return fault.ReasonOf(err) == fault.IdempotencyKeyReused
}
