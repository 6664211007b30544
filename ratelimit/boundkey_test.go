package ratelimit

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// TestRedTeamLongKeyStandInCannotBeSpelledByAShortKey: a key longer than
// MaxKeyBytes is stored as "\x00" + SHA-256(key). A caller-chosen short
// key spelling exactly that (a sub of "\u0000" and 32 bytes, a custom Key
// function over client input) must not share the long key's bucket: a
// short key that could be mistaken for a stand-in is hashed too.
func TestRedTeamLongKeyStandInCannotBeSpelledByAShortKey(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l, err := NewLocal(LocalConfig{Rate: 1, Period: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	long := strings.Repeat("victim/", 40)
	sum := sha256.Sum256([]byte(long))
	lookalike := "\x00" + string(sum[:])
	if d, err := l.Allow(ctx, long, 1); err != nil || !d.Allowed {
		t.Fatalf("long key, first: %+v %v", d, err)
	}
	if d, err := l.Allow(ctx, lookalike, 1); err != nil || !d.Allowed {
		t.Fatalf("a short key spelling the long key's stand-in shares its bucket: %+v %v", d, err)
	}
	if d, _ := l.Allow(ctx, long, 1); d.Allowed {
		t.Fatal("the long key's own second request was allowed")
	}
}
