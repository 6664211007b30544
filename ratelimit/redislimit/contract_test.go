package redislimit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/ratelimit/ratelimittest"
	"github.com/jwtgate/jwtgate/ratelimit/redislimit"
)

// The Limiter contract suite, against a real redis-server, a three-master
// Redis Cluster and a Sentinel-watched master. Every store the suite asks
// for has a Prefix of its own.
func TestContract(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) { contract(t, top.Client(t)) })
	}
}

func contract(t *testing.T, client redis.UniversalClient) {
	var stores atomic.Int64
	ratelimittest.Run(t, func(t testing.TB, cfg ratelimittest.Config) ratelimittest.Store {
		prefix := "contract:" + strconv.FormatInt(stores.Add(1), 10) + ":"
		l := newRedis(t, redislimit.Config{
			Client: client, Prefix: prefix, Rate: cfg.Rate, Period: cfg.Period, Burst: cfg.Burst,
			// The suite needs Redis's answers, not the failure policy's:
			// seconds, for a loaded machine.
			Timeout: 5 * time.Second, Now: cfg.Now,
		})
		return ratelimittest.Store{Limiter: l, FastForward: func(d time.Duration) { fastForward(t, client, "rate:"+prefix, d) }}
	})
}

// shiftTAT moves a redis_rate key's theoretical arrival time (seconds
// since 2017-01-01 by Redis's clock, the GCRA's whole state) back by
// ARGV[1] seconds: to the key, d more time has passed. A key whose bucket
// is then full is deleted, as redis_rate lets it expire.
var shiftTAT = redis.NewScript(`
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = (t[1] - 1483228800) + (t[2] / 1000000)
tat = tat - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], tat, 'EX', math.ceil(tat - now))
end
return 1
`)

// fastForward moves every limiter key under prefix d into the future, as
// far as the limiter can tell: Redis's own clock cannot be moved.
func fastForward(t testing.TB, client redis.UniversalClient, prefix string, d time.Duration) {
	t.Helper()
	redistest.Scan(t, client, prefix+"*", func(key string) {
		if err := shiftTAT.Run(context.Background(), client, []string{key}, d.Seconds()).Err(); err != nil {
			t.Fatalf("fast-forward %s: %v", key, err)
		}
	})
}
