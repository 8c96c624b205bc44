package posting

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Entries pages through a member's entries, oldest first.
func (s *Service) Entries(ctx context.Context, who principal.Principal, memberID string, pageSize int, pageToken string) ([]*domain.Entry, string, error) {
	if pageSize <= 0 {
		pageSize = 50
	}
	after, err := decodePageToken(pageToken)
	if err != nil {
		return nil, "", err
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
		next = encodePageToken(entries[pageSize-1].Seq)
	}
	return entries, next, nil
}

const pageTokenPrefix = "seq:"

func encodePageToken(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.FormatInt(seq, 10)))
}

func decodePageToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && strings.HasPrefix(string(raw), pageTokenPrefix) {
		if seq, err := strconv.ParseInt(strings.TrimPrefix(string(raw), pageTokenPrefix), 10, 64); err == nil && seq >= 0 {
			return seq, nil
		}
	}
	return 0, fault.Invalid("page_token", "is not a token from a previous page")
}
