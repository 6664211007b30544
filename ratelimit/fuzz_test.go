package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// FuzzLocalAllow drives a small Local with arbitrary keys, costs and clock
// steps (keys are caller input: whatever a claim holds) and checks the
// invariants every Decision must keep.
func FuzzLocalAllow(f *testing.F) {
	f.Add([]byte("alice\x01\x00bob\x02\x05alice\x09\x7f"))
	f.Add([]byte("\x00\x00\x00\x00\xff\xff\xff"))
	f.Add([]byte("k\x06\x00k\x05\x00k\x04\x00k\x03\x00k\x02\x00k\x01\x00k\x00\x00"))
	f.Add([]byte("a\x80\x01b\xfe\x02c\x03\x03d\x04\x04e\x05\x05f\x06\x06"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const burst, maxKeys = 5, 4
		clk := jwtgatetest.NewClock(time.Time{})
		l, err := ratelimit.NewLocal(ratelimit.LocalConfig{
			Rate: 3, Burst: burst, MaxKeys: maxKeys, Shards: 2, MaxKeyBytes: 8, Now: clk.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		// Records of key bytes up to a separator below 0x10, then a cost
		// byte (signed) and a clock step byte (milliseconds × 10).
		for len(data) > 0 {
			i := 0
			for i < len(data) && data[i] >= 0x10 {
				i++
			}
			key := string(data[:i])
			data = data[i:]
			cost := 1
			if len(data) > 0 {
				cost = int(int8(data[0]))
				data = data[1:]
			}
			if len(data) > 0 {
				clk.Advance(time.Duration(data[0]) * 10 * time.Millisecond)
				data = data[1:]
			}

			d, err := l.Allow(context.Background(), key, cost)
			if cost < 0 {
				if !errors.Is(err, ratelimit.ErrInvalidCost) || d.Allowed {
					t.Fatalf("cost %d: %+v, %v", cost, d, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Allow(%q, %d): %v", key, cost, err)
			}
			if d.Limit != burst || d.Remaining < 0 || d.Remaining > burst || d.ResetAfter < 0 {
				t.Fatalf("Allow(%q, %d): %+v out of range", key, cost, d)
			}
			if d.CostExceedsLimit != (cost > burst) || (d.CostExceedsLimit && d.Allowed) {
				t.Fatalf("Allow(%q, %d): %+v, CostExceedsLimit wrong", key, cost, d)
			}
			if d.Allowed && d.RetryAfter != 0 || !d.Allowed && d.RetryAfter <= 0 {
				t.Fatalf("Allow(%q, %d): %+v, RetryAfter wrong", key, cost, d)
			}
			if d.Allowed && cost > 0 && d.ResetAfter <= 0 {
				t.Fatalf("Allow(%q, %d): %+v, spent but reports a full bucket", key, cost, d)
			}
			if n := l.Len(); n > maxKeys {
				t.Fatalf("Len %d above MaxKeys %d", n, maxKeys)
			}
		}
	})
}
