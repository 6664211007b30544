package redisreplay_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jwtgate/jwtgate/replay/redisreplay"
)

// Two replicas share one Redis: a value seen by one is refused by the
// other. (Without a reachable Redis, FailClosed refuses both.)
func Example() {
	a, _ := redisreplay.New(redisreplay.Config{Addr: "127.0.0.1:1", Timeout: 10 * time.Millisecond})
	defer a.Close()
	fresh, err := a.Add(context.Background(), "jti|jkt", time.Minute)
	fmt.Println(fresh, err != nil)
	// Output: false true
}
