package idem

import (
	"encoding/json"
	"fmt"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Storable tells whether a request's outcome is stored under its key and
// replayed: a reply (err nil) and a business refusal — FailedPrecondition,
// NotFound, PermissionDenied, AlreadyExists (a duplicate) — are. Not
// stored, so that the caller can fix the request, or wait, and retry with
// the same key: Invalid, Unauthenticated, Unavailable, the refusal of a
// reused key, and every error that is not a fault (a deadline, a failure of
// this service or of another one).
func Storable(err error) bool {
	if err == nil {
		return true
	}
	f, ok := fault.As(err)
	if !ok || IsKeyReused(err) {
		return false
	}
	switch f.Kind {
	case fault.KindFailedPrecondition, fault.KindNotFound, fault.KindPermissionDenied, fault.KindAlreadyExists:
		return true
	}
	return false
}

// stored is an outcome as it is kept: the reply's JSON, or a refusal. The
// names are those of the records written before they were tagged.
type stored struct {
	Result json.RawMessage `json:"Result,omitempty"`
	Kind   fault.Kind      `json:"Kind,omitempty"`
	Field  string          `json:"Field,omitempty"`
	Msg    string          `json:"Msg,omitempty"`
	More   []violation     `json:"More,omitempty"`
	// Reason, Resource and Metadata are those of the refusal (absent from
	// refusals stored before reasons were: they replay with the reason
	// of their kind).
	Reason   fault.Reason      `json:"Reason,omitempty"`
	Resource *fault.Resource   `json:"Resource,omitempty"`
	Metadata map[string]string `json:"Metadata,omitempty"`
}

type violation struct {
	Field string `json:"Field"`
	Msg   string `json:"Msg"`
}

// EncodeReply is the stored form of an outcome: v's JSON when err is nil,
// else the refusal err (Storable(err) must hold) with its kind, message and
// field violations, reason, resource and metadata. The reply is v's JSON: a field tagged `json:"-"` (a
// secret shown once) is never stored, and a replay returns it empty. (A
// reply must not hold card numbers or other personal data either: return
// the pseudonym or the id.)
func EncodeReply(v any, err error) ([]byte, error) {
	if err != nil {
		f, ok := fault.As(err)
		if !ok || !Storable(err) {
			return nil, fmt.Errorf("idempotency: only replies and business refusals are stored, not %w", err)
		}
		st := stored{Kind: f.Kind, Field: f.Field, Msg: f.Msg, Reason: f.Reason, Resource: f.Resource, Metadata: f.Metadata}
		for _, m := range f.More {
			st.More = append(st.More, violation(m))
		}
		return json.Marshal(st)
	}
	b, merr := json.Marshal(v)
	if merr != nil {
		return nil, fmt.Errorf("encode reply: %w", merr)
	}
	return json.Marshal(stored{Result: b})
}

// DecodeReply returns a stored reply, or the stored refusal as its error
// (a *fault.Error equal to the one stored).
func DecodeReply[R any](b []byte) (R, error) {
	var r R
	var st stored
	if err := json.Unmarshal(b, &st); err != nil {
		return r, fmt.Errorf("decode stored reply: %w", err)
	}
	if st.Kind != 0 {
		f := &fault.Error{Kind: st.Kind, Field: st.Field, Msg: st.Msg, Reason: st.Reason, Resource: st.Resource, Metadata: st.Metadata}
		for _, m := range st.More {
			f.More = append(f.More, fault.Violation(m))
		}
		return r, f
	}
	if err := json.Unmarshal(st.Result, &r); err != nil {
		return r, fmt.Errorf("decode stored reply: %w", err)
	}
	return r, nil
}
