// Package auditpb gives audit records their API form, for every service
// that lists them (access control's ListAuditRecords, the partners'
// ListAudit).
package auditpb

import (
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
)

// Decision is the API's name of what became of an audited call.
func Decision(d audit.Decision) accessv1.AuditDecision {
	switch d {
	case audit.Allowed:
		return accessv1.AuditDecision_AUDIT_DECISION_ALLOWED
	case audit.Denied:
		return accessv1.AuditDecision_AUDIT_DECISION_DENIED
	case audit.Refused:
		return accessv1.AuditDecision_AUDIT_DECISION_REFUSED
	case audit.Failed:
		return accessv1.AuditDecision_AUDIT_DECISION_FAILED
	}
	return accessv1.AuditDecision_AUDIT_DECISION_UNSPECIFIED
}

// Code is a gRPC status code as the audit log names it (codes.Code's
// String, "PermissionDenied") as a google.rpc.Code; UNKNOWN for a name it
// does not know.
func Code(name string) code.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == name {
			return code.Code(c)
		}
	}
	return code.Code_UNKNOWN
}
