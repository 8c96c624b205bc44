// Package audit is the record every Fidelis service keeps of every
// mutation and every call refused with PermissionDenied, and the counts of
// failed authentications. It is pure: the access interceptor
// (services/internal/authz) makes the records and the access service
// stores them.
package audit

import "time"

// Decision is how an audited call ended.
type Decision string

// The decisions.
const (
	// Allowed: done.
	Allowed Decision = "allowed"
	// Denied: refused for who the caller is (PermissionDenied).
	Denied Decision = "denied"
	// Refused: a rule or bad input; nothing written.
	Refused Decision = "refused"
	// Failed: the service failed (Unavailable, Internal, a deadline).
	Failed Decision = "failed"
)

// DecisionOf classifies a gRPC status code's name.
func DecisionOf(code string) Decision {
	switch code {
	case "OK":
		return Allowed
	case "PermissionDenied", "Unauthenticated":
		return Denied
	case "InvalidArgument", "FailedPrecondition", "NotFound", "AlreadyExists", "OutOfRange", "ResourceExhausted", "Aborted":
		return Refused
	}
	return Failed
}

// Record is one audited call. It holds no request body, secret or
// card number.
type Record struct {
	ID         string
	At         time.Time
	Method     string
	Principal  string
	OnBehalfOf string
	Decision   Decision
	Code       string
	Source     string
	Count      int64
}

// FailureCount is the failed authentications from one source for one
// reason in one minute.
type FailureCount struct {
	Minute time.Time
	Source string
	Reason string
	Count  int64
}
