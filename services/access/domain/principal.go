package domain

import (
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// Principal is a registered principal with its record keeping.
type Principal struct {
	principal.Principal
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
}

// PartnerPrincipalID is the principal of a partner company.
func PartnerPrincipalID(partnerID string) string { return "partner:" + partnerID }
