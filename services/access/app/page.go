package app

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
)

// Page sizes of every access listing: 100 by default, at most 500 (more is
// read as 500, not refused).
const (
	defaultPageSize = 100
	maxPageSize     = 500
)

// listPage reads one page of a listing: up to size rows (see paging.Size)
// after the position the token holds, and the token of the next page (""
// after the last). The token is bound to scope, the listing and its
// filters (paging.Scope): a token of another listing, or of the same one
// with other filters, is INVALID_ARGUMENT. list reads limit rows after a
// position ("" from the start); pos is a row's position.
func listPage[T any](ctx context.Context, s *Service, scope, token string, size int,
	list func(ctx context.Context, tx Tx, after string, limit int) ([]T, error), pos func(T) string) ([]T, string, error) {
	size = paging.Size(size, defaultPageSize, maxPageSize)
	after, err := paging.Position(scope, token)
	if err != nil {
		return nil, "", err
	}
	var out []T
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		out, err = list(ctx, tx, after, size+1)
		return err
	})
	if err != nil || len(out) <= size {
		return out, "", err
	}
	out = out[:size]
	return out, paging.Token(scope, pos(out[size-1])), nil
}

// badToken is a page token, bound to its request, whose position does not
// read: made by hand, not by a previous page.
func badToken() error { return fault.Invalid("page_token", "is not a page token of this listing") }
