package app

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
)

// Keys pages through keys, newest first: of one principal, or of all when
// principalID is empty. A page token continues only a request for the
// same principal's keys.
func (s *Service) Keys(ctx context.Context, principalID, pageToken string, size int) ([]*domain.Key, string, error) {
	return listPage(ctx, s, paging.Scope("access.keys", principalID), pageToken, size, func(ctx context.Context, tx Tx, pos string, limit int) ([]*domain.Key, error) {
		var after *domain.Key
		if pos != "" {
			us, id, ok := strings.Cut(pos, "/")
			n, err := strconv.ParseInt(us, 10, 64)
			if !ok || err != nil {
				return nil, badToken()
			}
			after = &domain.Key{ID: id, CreatedAt: time.UnixMicro(n).UTC()}
		}
		return tx.Keys(ctx, principalID, after, limit)
	}, func(k *domain.Key) string { return strconv.FormatInt(k.CreatedAt.UnixMicro(), 10) + "/" + k.ID })
}

// KeyState is a key's state now.
func (s *Service) KeyState(k *domain.Key) domain.State { return k.State(s.now()) }
