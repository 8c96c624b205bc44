package paging_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
)

func TestSize(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, 50}, {-1, 50}, {1, 1}, {500, 500}, {501, 500}, {1 << 30, 500}} {
		if got := paging.Size(tc.in, 50, 500); got != tc.want {
			t.Errorf("Size(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestTokenRoundTrip(t *testing.T) {
	scope := paging.Scope("entries", "member-1")
	for _, pos := range []string{"42", "2026-12-04T10:00:00Z\x00e-1", "ü"} {
		tok := paging.Token(scope, pos)
		if strings.Contains(tok, pos) || strings.Contains(tok, "member-1") {
			t.Errorf("token %q shows its position or filters", tok)
		}
		got, err := paging.Position(scope, tok)
		if err != nil || got != pos {
			t.Errorf("Position(Token(%q)) = %q, %v", pos, got, err)
		}
	}
	if pos, err := paging.Position(scope, ""); pos != "" || err != nil {
		t.Errorf("no token: %q, %v", pos, err)
	}
}

// A token continues only the request that returned it.
func TestTokenBound(t *testing.T) {
	tok := paging.Token(paging.Scope("entries", "member-1"), "42")
	for _, other := range []string{
		paging.Scope("entries", "member-2"),
		paging.Scope("holds", "member-1"),
		paging.Scope("entries", "member-1", ""),
		paging.Scope("entries", "member", "-1"),
	} {
		if _, err := paging.Position(other, tok); !isInvalidToken(err) {
			t.Errorf("token of member-1's entries read in scope %q: %v", other, err)
		}
	}
	for _, bad := range []string{"42", "c2VxOjQy", "!!", paging.Token("x", "")} {
		if _, err := paging.Position(paging.Scope("entries", "member-1"), bad); !isInvalidToken(err) {
			t.Errorf("Position(%q) = %v, want INVALID_ARGUMENT on page_token", bad, err)
		}
	}
}

func isInvalidToken(err error) bool {
	f, ok := fault.As(err)
	return ok && f.Kind == fault.KindInvalid && f.Field == "page_token"
}

func TestTimeKey(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)
	gotAt, gotID, err := paging.ParseTimeKey(paging.TimeKey(at, "h-1"))
	if err != nil || !gotAt.Equal(at) || gotID != "h-1" {
		t.Fatalf("round trip: %v %q %v", gotAt, gotID, err)
	}
	if at, id, err := paging.ParseTimeKey(""); !at.IsZero() || id != "" || err != nil {
		t.Fatalf("no position: %v %q %v", at, id, err)
	}
	for _, bad := range []string{"x h-1", "123", "123 "} {
		if _, _, err := paging.ParseTimeKey(bad); !isInvalidToken(err) {
			t.Errorf("ParseTimeKey(%q) = %v", bad, err)
		}
	}
}
