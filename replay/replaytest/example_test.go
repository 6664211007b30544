package replaytest_test

import (
	"fmt"
	"testing"

	"github.com/jwtgate/jwtgate/replay"
	"github.com/jwtgate/jwtgate/replay/replaytest"
)

// A store's test runs the suite with a NewFunc that builds the store on
// the suite's clock. replay.Memory keeps time by Config.Now; a store in
// Redis also returns a FastForward hook (see replay/redisreplay's tests).
func ExampleRun() {
	// In a _test.go file: func TestContract(t *testing.T) { replaytest.Run(t, newStore) }
	newStore := func(t testing.TB, cfg replaytest.Config) replaytest.Store {
		st, err := replay.NewMemory(replay.MemoryConfig{Now: cfg.Now})
		if err != nil {
			t.Fatal(err)
		}
		return replaytest.Store{Store: st}
	}
	_ = newStore
}

// The checks a store must pass, in the order Run runs them.
func ExampleChecks() {
	for _, c := range replaytest.Checks() {
		fmt.Println(c.Name)
	}
	// Output:
	// FreshOnceWithinTTL
	// FreshAgainAfterTTL
	// TTLPerKey
	// KeysIndependent
	// LongKeys
	// ConcurrentOneFresh
	// ContextEnded
}
