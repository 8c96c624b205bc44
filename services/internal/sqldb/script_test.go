package sqldb

import (
	"strings"
	"testing"
)

func TestRenumber(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset int
		want   string
	}{
		{"SELECT $1, $2", 0, "SELECT $1, $2"},
		{"SELECT $1, $12 FROM t WHERE a = $3", 10, "SELECT $11, $22 FROM t WHERE a = $13"},
		{"SELECT '$1', \"$2\", $1", 5, "SELECT '$1', \"$2\", $6"},
		{"SELECT 'it''s', $1", 1, "SELECT 'it''s', $2"},
		{"SELECT $$", 1, "SELECT $$"},
	} {
		var b strings.Builder
		renumber(&b, tc.in, tc.offset)
		if got := b.String(); got != tc.want {
			t.Errorf("renumber(%q, %d) = %q, want %q", tc.in, tc.offset, got, tc.want)
		}
	}
}
