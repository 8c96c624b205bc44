package adapters

import (
	"context"
	"time"

	accessapp "github.com/fidelis-loyalty/fidelis/services/access/app"
	accessdomain "github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	partnersapp "github.com/fidelis-loyalty/fidelis/services/partners/app"
)

// NewAccess is the partners service's ports onto the access service, which
// runs in every process: partners' API keys, and the audit of their calls.
func NewAccess(a *accessapp.Service) (partnersapp.Keys, partnersapp.AuditLog) {
	return partnerKeys{a}, partnerAudit{a}
}

type partnerKeys struct{ a *accessapp.Service }

func (k partnerKeys) IssuePartnerKey(ctx context.Context, by principal.Principal, requestKey, partnerID, programmeID string,
	overlap time.Duration) (string, string, error) {
	r, err := k.a.IssuePartnerKey(ctx, by, requestKey, partnerID, programmeID, overlap)
	if err != nil {
		return "", "", err
	}
	return r.Key.ID, r.Secret, nil
}

type partnerAudit struct{ a *accessapp.Service }

func (p partnerAudit) PartnerAudit(ctx context.Context, partnerID, pageToken string, size int) ([]partnersapp.AuditEntry, string, error) {
	f := accessapp.AuditFilter{Method: "fidelis.partners.v1."}
	if partnerID != "" {
		f = accessapp.AuditFilter{Principal: accessdomain.PartnerPrincipalID(partnerID)}
	}
	recs, next, err := p.a.AuditRecords(ctx, f, pageToken, size)
	if err != nil {
		return nil, "", err
	}
	out := make([]partnersapp.AuditEntry, len(recs))
	for i, r := range recs {
		out[i] = partnersapp.AuditEntry{ID: r.ID, At: r.At, Principal: r.Principal, Method: r.Method, Decision: string(r.Decision), Code: r.Code, Calls: r.Count}
	}
	return out, next, nil
}
