package posting

import (
	"context"
	"strconv"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// The page sizes of the ledger's listings: the default, and the most one
// page holds (a larger request is capped, not refused).
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Entries pages through a member's entries, oldest first. A page token
// is bound to the member: another member's is INVALID_ARGUMENT.
func (s *Service) Entries(ctx context.Context, who principal.Principal, memberID string, pageSize int, pageToken string) ([]*domain.Entry, string, error) {
	pageSize = paging.Size(pageSize, DefaultPageSize, MaxPageSize)
	scope := paging.Scope("ledger.entries", memberID)
	pos, err := paging.Position(scope, pageToken)
	if err != nil {
		return nil, "", err
	}
	var after int64
	if pos != "" {
		if after, err = strconv.ParseInt(pos, 10, 64); err != nil || after < 0 {
			return nil, "", fault.Invalid("page_token", "is not a page token of this listing")
		}
	}
	var entries []*domain.Entry
	err = s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		if _, err := memberOf(ctx, tx, who, memberID); err != nil {
			return err
		}
		entries, err = tx.Entries(ctx, memberID, after, pageSize+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(entries) > pageSize {
		entries = entries[:pageSize]
		next = paging.Token(scope, strconv.FormatInt(entries[pageSize-1].Seq, 10))
	}
	return entries, next, nil
}
