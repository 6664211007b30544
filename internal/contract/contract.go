// Package contract is what the store contract suites (ratelimittest,
// replaytest, budgettest) share: a check's shape and its runner, the
// suite's clock moved together with a store's own time, and key names fit
// for a failure message.
package contract

import (
	"strconv"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// Check is one check of a suite whose stores newStore (an N) builds.
type Check[N any] struct {
	// Name is the check's subtest name in Run.
	Name string
	// Run runs the check against stores from newStore, failing t when the
	// store breaks the contract.
	Run func(t testing.TB, newStore N)
}

// Run runs every check against stores from newStore, each as a subtest.
func Run[N any](t *testing.T, checks []Check[N], newStore N) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, newStore) })
	}
}

// Clock is a suite's clock: it stands still until Advance, which also
// moves the time of a store that keeps its own (its FastForward hook).
type Clock struct {
	*jwtgatetest.Clock
	fastForward func(time.Duration)
}

// NewClock returns a clock at start; fastForward, when not nil, is called
// with every positive Advance.
func NewClock(start time.Time, fastForward func(time.Duration)) *Clock {
	return &Clock{Clock: jwtgatetest.NewClock(start), fastForward: fastForward}
}

// Follow sets the hook Advance calls (a store is built with the clock's
// Now before its hook is known).
func (c *Clock) Follow(fastForward func(time.Duration)) { c.fastForward = fastForward }

// Advance moves the clock, and the store's time with it, by d > 0.
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.Clock.Advance(d)
	if c.fastForward != nil {
		c.fastForward(d)
	}
}

// Near reports whether got is within tol of want.
func Near(got, want, tol time.Duration) bool {
	diff := got - want
	return diff > -tol && diff < tol
}

// Short names a key in a failure message without printing kilobytes.
func Short(key string) string {
	if len(key) > 40 {
		return strconv.Quote(key[:16]) + "…(" + strconv.Itoa(len(key)) + " bytes)…" + strconv.Quote(key[len(key)-8:])
	}
	return strconv.Quote(key)
}
