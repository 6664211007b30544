package boundkey

import (
	"crypto/sha256"
	"strings"
	"testing"
)

func TestBound(t *testing.T) {
	long := strings.Repeat("k", 200)
	sum := sha256.Sum256([]byte(long))
	standIn := "\x00" + string(sum[:])
	for _, tc := range []struct{ key, want string }{
		{"", ""},
		{"alice", "alice"},
		{strings.Repeat("k", 128), strings.Repeat("k", 128)},
		{long, standIn},
	} {
		if got := Bound(tc.key, 128); got != tc.want {
			t.Errorf("Bound(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	// A short key spelling the long key's stand-in is hashed too: it never
	// shares the long key's entry.
	if got := Bound(standIn, 128); got == standIn || got == Bound(long, 128) {
		t.Fatalf("the stand-in spelled by a short key: %q", got)
	}
}
