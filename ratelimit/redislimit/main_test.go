package redislimit_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/ratelimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func allow(t testing.TB, l ratelimit.Limiter, key string, cost int) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, cost)
	if err != nil {
		t.Fatalf("Allow(%q, %d): %v", key, cost, err)
	}
	return d
}
