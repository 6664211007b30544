package ratelimit_test

import (
	"testing"

	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/ratelimittest"
)

// The Limiter contract suite, against Local on the suite's clock.
func TestLocalContract(t *testing.T) {
	ratelimittest.Run(t, func(t testing.TB, cfg ratelimittest.Config) ratelimittest.Store {
		return ratelimittest.Store{Limiter: newLocal(t, ratelimit.LocalConfig{
			Rate: cfg.Rate, Period: cfg.Period, Burst: cfg.Burst, Now: cfg.Now,
		})}
	})
}
