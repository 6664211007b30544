// Package redislimit is the ratelimit.Limiter shared by every replica of a
// service: the buckets live in Redis (GCRA, github.com/go-redis/redis_rate),
// each call waits at most Config.Timeout, and when Redis is down or slow the
// ratelimit.FailurePolicy decides (allow, deny, or limit in process from
// where Redis last said each key was).
//
// It is a package of its own so that programs that only verify tokens, or
// limit in process (ratelimit.Local), do not link go-redis.
//
// Quick start:
//
//	lim, err := redislimit.New(redislimit.Config{
//		Addr: "redis:6379", Rate: 10, Burst: 20,
//		FailurePolicy: ratelimit.FailLocal, // when Redis is down: per-replica limits,
//		Replicas:      3,                   // each a third of the shared one
//	})
//	if err != nil { ... }
//	defer lim.Close()
//	v, err := middleware.New(middleware.Config{Keys: keys, RateLimit: middleware.RateLimit{Limiter: lim}})
package redislimit
