package redislimit_test

import (
	"context"
	"fmt"

	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/redislimit"
)

// A Redis limiter shared by every replica. Not run: it needs a Redis.
func ExampleNew() {
	lim, err := redislimit.New(redislimit.Config{
		Addr:          "127.0.0.1:6379",
		Prefix:        "myapi:free:", // one prefix per rate (tier, route)
		Rate:          10,            // per second
		Burst:         20,
		FailurePolicy: ratelimit.FailLocal, // Redis down: each replica limits on its own
		Observer: func(e ratelimit.Event) {
			if e.Outcome == ratelimit.OutcomeError {
				fmt.Println("redis trouble:", e.Err, "policy:", e.Policy)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lim.Close()

	d, err := lim.Allow(context.Background(), "alice", 1)
	fmt.Println(d.Allowed, err)
}
