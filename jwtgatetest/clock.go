package jwtgatetest

import (
	"sync"
	"time"
)

// Clock is a manual clock for code that takes a clock (Now func() time.Time
// fields, such as IssuerOptions.Now or jwtgate's Config.Now): it stands still
// until the test moves it. Use it where a testing/synctest bubble does not
// fit (real sockets, or a test that moves time without waiting for
// goroutines).
//
// Create it with NewClock; the zero value is not usable. Safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

// NewClock returns a Clock reading start. A zero start means 2026-01-02
// 03:04:05 UTC: a fixed instant, so tests that print times are
// reproducible.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	return &Clock{t: start}
}

// Now returns the clock's time. Pass the method value (clk.Now) as a Now
// field.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (backwards when d is negative) and returns
// the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
