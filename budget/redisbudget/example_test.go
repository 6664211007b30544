package redisbudget_test

import (
	"context"
	"fmt"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/budget/redisbudget"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// A token budget shared by every replica. Not run: it needs a Redis.
func ExampleNew() {
	b, err := redisbudget.New(redisbudget.Config{
		Addr:          "127.0.0.1:6379",
		Prefix:        "myapi:budget:",
		Limit:         200_000, // model tokens
		Window:        budget.PerDay,
		FailurePolicy: ratelimit.FailLocal, // Redis down: each replica keeps its share
		Replicas:      3,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	ctx := context.Background()
	if d, err := b.Check(ctx, "https://idp.example/#alice"); err == nil && d.Allowed {
		// … call the model, read its usage, then:
		_, _ = b.Charge(ctx, "https://idp.example/#alice", 1234)
	}
}
