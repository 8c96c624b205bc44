package app

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// pageSize is a listing's page size: 100 by default, at most 500.
func pageSize(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 500:
		return 500
	}
	return n
}

// Page tokens are opaque to clients: a kind and the last row's position.
func encodeToken(kind, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + pos))
}

func decodeToken(tok, kind string) (string, error) {
	if tok == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		if pos, ok := strings.CutPrefix(string(raw), kind+":"); ok && pos != "" {
			return pos, nil
		}
	}
	return "", badToken()
}

// listPage reads one page of a listing: up to size rows (see pageSize)
// after the position the token holds, and the token of the next page (""
// after the last). list reads limit rows after a position ("" from the
// start); pos is a row's position.
func listPage[T any](ctx context.Context, s *Service, kind, token string, size int,
	list func(ctx context.Context, tx Tx, after string, limit int) ([]T, error), pos func(T) string) ([]T, string, error) {
	size = pageSize(size)
	after, err := decodeToken(token, kind)
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
	return out, encodeToken(kind, pos(out[size-1])), nil
}

// badToken is a page token that does not read.
func badToken() error { return fault.Invalid("page_token", "is not a token from a previous page") }
