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
)

// Error is a rule of the domain that a request broke. Nothing is written
// when a request fails with one.
type Error struct {
	Kind Kind
	// Field is the request field at fault, for KindInvalid.
	Field string
	Msg   string
	// More are further fields at fault, for KindInvalid.
	More []Violation
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

// NotFound is a reference to something that does not exist.
func NotFound(format string, args ...any) error {
	return &Error{Kind: KindNotFound, Msg: fmt.Sprintf(format, args...)}
}

// Precondition is a request the current state does not allow.
func Precondition(format string, args ...any) error {
	return &Error{Kind: KindFailedPrecondition, Msg: fmt.Sprintf(format, args...)}
}

// Exists is a request to create something that already exists.
func Exists(format string, args ...any) error {
	return &Error{Kind: KindAlreadyExists, Msg: fmt.Sprintf(format, args...)}
}

// Denied is a request the caller may not make.
func Denied(format string, args ...any) error {
	return &Error{Kind: KindPermissionDenied, Msg: fmt.Sprintf(format, args...)}
}

// As returns the Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Unavailable is a service that cannot take the request now.
func Unavailable(format string, args ...any) error {
	return &Error{Kind: KindUnavailable, Msg: fmt.Sprintf(format, args...)}
}

// Unauthenticated is a caller without valid credentials.
func Unauthenticated(format string, args ...any) error {
	return &Error{Kind: KindUnauthenticated, Msg: fmt.Sprintf(format, args...)}
}
