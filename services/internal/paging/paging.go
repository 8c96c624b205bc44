// Package paging is how every Fidelis listing pages (AIP-158): a page size
// that is capped, not refused, and page tokens that are opaque to clients
// and bound to the request they continue, so that a token of one listing,
// or of the same listing with other filters (another member's entries),
// is refused instead of read as a position.
package paging

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Size is the page size to use for the requested one: def when none (0 or
// less) was asked for, max when more was.
func Size(requested, def, max int) int {
	switch {
	case requested <= 0:
		return def
	case requested > max:
		return max
	}
	return requested
}

// Scope names a listing and the filters of a request, the parts a token
// is bound to: the listing's name first, then each filter's value, in a
// fixed order (never the page size, which may change from page to page).
func Scope(listing string, filters ...string) string {
	var b strings.Builder
	b.WriteString(listing)
	for _, f := range filters {
		b.WriteByte(0)
		b.WriteString(f)
	}
	return b.String()
}

const (
	version   = 'p' // of the token's layout
	bindBytes = 12  // of the scope's SHA-256 in a token
)

// Token is the page token of the page after pos (the last row's position
// in the listing's order) in scope. It holds a digest of the scope, never
// the filters themselves (a card number, say).
func Token(scope, pos string) string {
	sum := sha256.Sum256([]byte(scope))
	raw := make([]byte, 0, 1+bindBytes+len(pos))
	raw = append(raw, version)
	raw = append(raw, sum[:bindBytes]...)
	raw = append(raw, pos...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// Position reads a page token of scope: the position to continue after,
// "" for no token (the first page). A token that does not read, or that
// belongs to another listing or other filters, is INVALID_ARGUMENT on
// page_token.
func Position(scope, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	sum := sha256.Sum256([]byte(scope))
	if err != nil || len(raw) <= 1+bindBytes || raw[0] != version {
		return "", fault.Invalid("page_token", "is not a page token of this listing")
	}
	if string(raw[1:1+bindBytes]) != string(sum[:bindBytes]) {
		return "", fault.Invalid("page_token", "belongs to another request: send the same filters as the request that returned it")
	}
	return string(raw[1+bindBytes:]), nil
}

// TimeKey is the position of a row in a listing ordered by time then id.
func TimeKey(at time.Time, id string) string {
	return strconv.FormatInt(at.UnixMicro(), 10) + " " + id
}

// ParseTimeKey reads a TimeKey; the zero time and "" for no position (the
// first page). A position that does not read is INVALID_ARGUMENT on
// page_token.
func ParseTimeKey(pos string) (time.Time, string, error) {
	if pos == "" {
		return time.Time{}, "", nil
	}
	micros, id, ok := strings.Cut(pos, " ")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", fault.Invalid("page_token", "is not a page token of this listing")
	}
	return time.UnixMicro(us).UTC(), id, nil
}
