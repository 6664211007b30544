package replay_test

import (
	"testing"

	"github.com/jwtgate/jwtgate/replay"
	"github.com/jwtgate/jwtgate/replay/replaytest"
)

// The Store contract suite, against Memory on the suite's clock.
func TestMemoryContract(t *testing.T) {
	replaytest.Run(t, func(t testing.TB, cfg replaytest.Config) replaytest.Store {
		m, err := replay.NewMemory(replay.MemoryConfig{Now: cfg.Now})
		if err != nil {
			t.Fatal(err)
		}
		return replaytest.Store{Store: m}
	})
}
