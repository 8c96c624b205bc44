package consent

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// programmeOf reads the programme of a member the principal may touch.
func programmeOf(ctx context.Context, tx Tx, who principal.Principal, memberID string) (string, error) {
	ps, err := tx.Programmes(ctx, []string{memberID})
	if err != nil {
		return "", err
	}
	p, ok := ps[memberID]
	if !ok {
		return "", fault.NotFound(fault.MemberNotFound, "member %s not found", memberID)
	}
	return p, who.CheckProgramme(p)
}
