package redisbudget_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/budget/budgettest"
	"github.com/jwtgate/jwtgate/budget/redisbudget"
	"github.com/jwtgate/jwtgate/internal/redistest"
)

// The Budget contract suite, against a real redis-server, a three-master
// Redis Cluster and a Sentinel-watched master. Every budget the suite asks
// for has a Prefix of its own. No FastForward hook: windows come from
// Config.Now, and Redis's clock only expires the keys of windows that have
// ended.
func TestContract(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) { contract(t, top.Client(t)) })
	}
}

func contract(t *testing.T, client redis.UniversalClient) {
	var stores atomic.Int64
	budgettest.Run(t, func(t testing.TB, cfg budgettest.Config) budgettest.Store {
		b, err := redisbudget.New(redisbudget.Config{
			Client: client, Prefix: "contract:" + strconv.FormatInt(stores.Add(1), 10) + ":",
			Limit: cfg.Limit, Window: cfg.Window, Now: cfg.Now,
			// The suite needs Redis's answers, not the failure policy's:
			// seconds, for a loaded machine.
			Timeout: 5 * time.Second, Logger: quiet(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return budgettest.Store{Budget: b}
	})
}
