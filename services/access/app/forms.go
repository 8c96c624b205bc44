package app

import (
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// The forms the access service's idempotent requests are hashed in (see
// idem.NewRequest), one type per method and version. Version 1 of each is,
// byte for byte, the JSON the service hashed before forms had versions, so
// that the keys written then still replay: its field names, order and JSON
// types never change. A request that changes shape gets a version 2 form
// next to it (forms_test.go pins every version's hash).

type createKeyV1 struct {
	PrincipalID string        `json:"PrincipalID"`
	TTL         time.Duration `json:"TTL"`
}

func createKeyRequest(principalID string, ttl time.Duration) (idem.Request, error) {
	return idem.NewRequest("CreateKey", 1, func(int) any { return createKeyV1{PrincipalID: principalID, TTL: ttl} })
}

type rotateKeyV1 struct {
	KeyID   string        `json:"KeyID"`
	Overlap time.Duration `json:"Overlap"`
	TTL     time.Duration `json:"TTL"`
}

func rotateKeyRequest(keyID string, overlap, ttl time.Duration) (idem.Request, error) {
	return idem.NewRequest("RotateKey", 1, func(int) any { return rotateKeyV1{KeyID: keyID, Overlap: overlap, TTL: ttl} })
}

// revokeKeyRequest: version 1 is the key id alone, a JSON string.
func revokeKeyRequest(keyID string) (idem.Request, error) {
	return idem.NewRequest("RevokeKey", 1, func(int) any { return keyID })
}

type limitsV1 struct {
	MaxEarnPoints   int64 `json:"MaxEarnPoints"`
	MaxAdjustPoints int64 `json:"MaxAdjustPoints"`
	RatePerSecond   int64 `json:"RatePerSecond"`
}

func limitsForm(l *principal.Limits) *limitsV1 {
	if l == nil {
		return nil
	}
	return &limitsV1{MaxEarnPoints: l.MaxEarnPoints, MaxAdjustPoints: l.MaxAdjustPoints, RatePerSecond: l.RatePerSecond}
}

// roles keeps nil apart from empty: they hash differently (null, []).
func roles(rs []principal.Role) []string {
	if rs == nil {
		return nil
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

type createPrincipalV1 struct {
	ID         string    `json:"ID"`
	Roles      []string  `json:"Roles"`
	Programmes []string  `json:"Programmes"`
	Limits     *limitsV1 `json:"Limits"`
}

func createPrincipalRequest(n NewPrincipal) (idem.Request, error) {
	return idem.NewRequest("CreatePrincipal", 1, func(int) any {
		return createPrincipalV1{ID: n.ID, Roles: roles(n.Roles), Programmes: n.Programmes, Limits: limitsForm(n.Limits)}
	})
}

type updatePrincipalV1 struct {
	ID         string    `json:"ID"`
	Roles      []string  `json:"Roles"`
	Programmes []string  `json:"Programmes"`
	Limits     *limitsV1 `json:"Limits"`
}

func updatePrincipalRequest(u PrincipalUpdate) (idem.Request, error) {
	return idem.NewRequest("UpdatePrincipal", 1, func(int) any {
		return updatePrincipalV1{ID: u.ID, Roles: roles(u.Roles), Programmes: u.Programmes, Limits: limitsForm(u.Limits)}
	})
}

type issuePartnerKeyV1 struct {
	PartnerID   string        `json:"PartnerID"`
	ProgrammeID string        `json:"ProgrammeID"`
	Overlap     time.Duration `json:"Overlap"`
}

func issuePartnerKeyRequest(partnerID, programmeID string, overlap time.Duration) (idem.Request, error) {
	return idem.NewRequest("IssuePartnerKey", 1, func(int) any {
		return issuePartnerKeyV1{PartnerID: partnerID, ProgrammeID: programmeID, Overlap: overlap}
	})
}
