package ratelimittest_test

import (
	"fmt"
	"testing"

	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/ratelimittest"
)

// A limiter's test runs the suite with a NewFunc that builds the limiter
// from the suite's Config. Here the limiter is ratelimit.Local, which keeps
// time by Config.Now; a store in Redis would also return a FastForward
// hook (see ratelimit/redislimit's tests).
func ExampleRun() {
	// In a _test.go file: func TestContract(t *testing.T) { ratelimittest.Run(t, newLimiter) }
	newLimiter := func(t testing.TB, cfg ratelimittest.Config) ratelimittest.Store {
		l, err := ratelimit.NewLocal(ratelimit.LocalConfig{
			Rate: cfg.Rate, Period: cfg.Period, Burst: cfg.Burst, Now: cfg.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		return ratelimittest.Store{Limiter: l}
	}
	_ = newLimiter
}

// The checks a limiter must pass, in the order Run runs them.
func ExampleChecks() {
	for _, c := range ratelimittest.Checks() {
		fmt.Println(c.Name)
	}
	// Output:
	// BurstThenRefused
	// RetryAfterIsEnough
	// RefillUpToBurst
	// Cost
	// CostAboveBurst
	// NegativeCost
	// KeysIndependent
	// LongKeys
	// ConcurrentExact
	// ContextEnded
}
