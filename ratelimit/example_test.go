package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jwtgate/jwtgate/ratelimit"
)

func ExampleLocal() {
	// A clock the example controls; leave Now nil in real code.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{
		Rate:  2, // units per second
		Burst: 3,
		Now:   func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for range 4 {
		d, _ := lim.Allow(ctx, "alice", 1)
		fmt.Printf("allowed=%v remaining=%d retry-after=%v\n", d.Allowed, d.Remaining, d.RetryAfter.Round(time.Millisecond))
	}
	now = now.Add(500 * time.Millisecond) // one unit earned back
	d, _ := lim.Allow(ctx, "alice", 1)
	fmt.Printf("after 500ms: allowed=%v remaining=%d\n", d.Allowed, d.Remaining)

	// Output:
	// allowed=true remaining=2 retry-after=0s
	// allowed=true remaining=1 retry-after=0s
	// allowed=true remaining=0 retry-after=0s
	// allowed=false remaining=0 retry-after=500ms
	// after 500ms: allowed=true remaining=0
}

func ExampleLocal_cost() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim, _ := ratelimit.NewLocal(ratelimit.LocalConfig{
		Rate: 100, Period: time.Minute, // 100 units a minute
		Now: func() time.Time { return now },
	})
	ctx := context.Background()

	// An expensive request (say, an LLM call weighed by its tokens)
	// spends more than one unit.
	d, _ := lim.Allow(ctx, "bob", 60)
	fmt.Println(d.Allowed, d.Remaining, d.Limit)
	d, _ = lim.Allow(ctx, "bob", 60)
	fmt.Println(d.Allowed, d.Remaining, d.RetryAfter.Round(time.Second))
	// More than the burst can never be allowed, however long bob waits.
	d, _ = lim.Allow(ctx, "bob", 101)
	fmt.Println(d.Allowed, d.CostExceedsLimit)

	// Output:
	// true 40 100
	// false 40 12s
	// false true
}
