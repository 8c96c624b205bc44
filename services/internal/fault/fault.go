// Package fault is the error vocabulary the Fidelis services share: a broken
// rule of the domain, classified so that the gRPC edge can give it a status
// code. Anything else is an internal failure.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an Error; the gRPC edge maps it to a status code.
type Kind int

// Error kinds.
const (
	KindInvalid Kind = iota + 1
	KindNotFound
	KindFailedPrecondition
	KindAlreadyExists
	KindPermissionDenied
	// KindUnavailable is a service that cannot take requests now (shutting
	// down); the caller may retry elsewhere.
	KindUnavailable
	// KindUnauthenticated is a caller without valid credentials.
	KindUnauthenticated
	// KindAborted is a conditional request whose condition no longer
	// holds (a stale etag): read again and retry.
	KindAborted
)

// Error is a rule of the domain that a request broke. Nothing is written
// when a request fails with one.
type Error struct {
	Kind Kind
	// Reason says, for programs, which rule was broken: the gRPC edge
	// sends it in a google.rpc.ErrorInfo. Empty for KindInvalid (whose
	// reason is ReasonInvalidArgument, with the fields in a BadRequest).
	Reason Reason
	// Field is the request field at fault, for KindInvalid.
	Field string
	Msg   string
	// More are further fields at fault, for KindInvalid.
	More []Violation
	// Resource, if set, is what the refusal is about (the member already
	// enrolled under that external ref, say), sent in a
	// google.rpc.ResourceInfo.
	Resource *Resource
	// Metadata are facts a program may act on (the points available, say),
	// sent in the ErrorInfo. Never personal data or secrets.
	Metadata map[string]string
}

// Resource names a resource: Type is its full message name
// ("fidelis.ledger.v1.Member"), Name its id.
type Resource struct {
	Type string
	Name string
}

// About names the resource the refusal is about.
func (e *Error) About(resourceType, name string) *Error {
	e.Resource = &Resource{Type: resourceType, Name: name}
	return e
}

// With adds a fact for programs to the refusal (key in lower_snake_case).
func (e *Error) With(key, value string) *Error {
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	e.Metadata[key] = value
	return e
}

// Violation is one bad field of a request.
type Violation struct {
	Field string
	Msg   string
}

func (e *Error) Error() string {
	msg := e.Msg
	if e.Field != "" {
		msg = e.Field + ": " + e.Msg
	}
	for _, v := range e.More {
		msg += "; " + v.Field + ": " + v.Msg
	}
	return msg
}

// Violations are every bad field of the request, Field first.
func (e *Error) Violations() []Violation {
	var vs []Violation
	if e.Field != "" {
		vs = append(vs, Violation{Field: e.Field, Msg: e.Msg})
	}
	return append(vs, e.More...)
}

// Invalid is a bad value in a request field.
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: KindInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// InvalidFields is a request with several bad fields; nil when vs is empty.
func InvalidFields(vs []Violation) error {
	if len(vs) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Field: vs[0].Field, Msg: vs[0].Msg, More: vs[1:]}
}

func newError(kind Kind, reason Reason, format string, args []any) *Error {
	return &Error{Kind: kind, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// NotFound is a reference to something that does not exist.
func NotFound(reason Reason, format string, args ...any) *Error {
	return newError(KindNotFound, reason, format, args)
}

// Precondition is a request the current state does not allow.
func Precondition(reason Reason, format string, args ...any) *Error {
	return newError(KindFailedPrecondition, reason, format, args)
}

// Exists is a request to create something that already exists.
func Exists(reason Reason, format string, args ...any) *Error {
	return newError(KindAlreadyExists, reason, format, args)
}

// Denied is a request the caller may not make.
func Denied(reason Reason, format string, args ...any) *Error {
	return newError(KindPermissionDenied, reason, format, args)
}

// As returns the Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Unavailable is a service that cannot take the request now.
func Unavailable(reason Reason, format string, args ...any) *Error {
	return newError(KindUnavailable, reason, format, args)
}

// Unauthenticated is a caller without valid credentials.
func Unauthenticated(reason Reason, format string, args ...any) *Error {
	return newError(KindUnauthenticated, reason, format, args)
}

// Aborted is a conditional request whose condition no longer holds: the
// resource changed since the caller read it (a stale etag, AIP-154).
func Aborted(reason Reason, format string, args ...any) *Error {
	return newError(KindAborted, reason, format, args)
}
