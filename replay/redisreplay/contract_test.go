package redisreplay_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/replay/redisreplay"
	"github.com/jwtgate/jwtgate/replay/replaytest"
)

// The Store contract suite, against a real redis-server, a three-master
// Redis Cluster and a Sentinel-watched master. Every store the suite asks
// for has a Prefix of its own.
func TestContract(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) { contract(t, top.Client(t)) })
	}
}

func contract(t *testing.T, client redis.UniversalClient) {
	var stores atomic.Int64
	replaytest.Run(t, func(t testing.TB, _ replaytest.Config) replaytest.Store {
		prefix := "contract:" + strconv.FormatInt(stores.Add(1), 10) + ":"
		s, err := redisreplay.New(redisreplay.Config{
			Client: client, Prefix: prefix,
			// The suite needs Redis's answers, not the failure policy's:
			// seconds, for a loaded machine.
			Timeout: 5 * time.Second,
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return replaytest.Store{Store: s, FastForward: func(d time.Duration) { fastForward(t, client, prefix, d) }}
	})
}

// shortenTTL takes ARGV[1] milliseconds off a key's time to live, deleting
// the key when that is all it had left.
var shortenTTL = redis.NewScript(`
local p = redis.call('PTTL', KEYS[1])
if p < 0 then return 0 end
local d = tonumber(ARGV[1])
if p <= d then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], p - d)
end
return 1
`)

// fastForward moves every key under prefix d closer to its expiry: Redis's
// own clock cannot be moved.
func fastForward(t testing.TB, client redis.UniversalClient, prefix string, d time.Duration) {
	t.Helper()
	redistest.Scan(t, client, prefix+"*", func(key string) {
		if err := shortenTTL.Run(context.Background(), client, []string{key}, d.Milliseconds()).Err(); err != nil {
			t.Fatalf("fast-forward %s: %v", key, err)
		}
	})
}
