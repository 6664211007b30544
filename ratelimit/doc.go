// Package ratelimit limits how fast each key (typically a token's verified
// subject) may spend units, in one process or shared by every replica of a
// service.
//
// Both limiters implement [Limiter] and answer with a [Decision], which
// carries what the RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset and
// Retry-After response headers need:
//
//   - [Local] keeps one token bucket per key in memory, with
//     golang.org/x/time/rate's arithmetic: no network, ~100-200ns per call,
//     no allocation for a key it holds (one, its copy of the key, to admit a
//     new one). Memory is bounded by MaxKeys (default 100,000), least
//     recently used keys being forgotten; a forgotten key comes back with a
//     full bucket. A held key costs about 70 bytes beside its own bytes (a
//     48-byte entry and a 16-byte map slot), so the default cap of short
//     subjects takes about 9-12 MB however many distinct subjects arrive. Each
//     replica counts on its own.
//   - Package ratelimit/redislimit keeps the buckets in Redis (GCRA,
//     github.com/go-redis/redis_rate), so every replica shares one limit
//     exactly. Each call waits at most Timeout (default 50ms); when Redis is
//     down or slow, the [FailurePolicy] decides (default [FailOpen]: allow,
//     count, log) and the limiter goes back to Redis by itself when it
//     returns. It is a package of its own so that a program that never
//     uses Redis does not link go-redis.
//
// A Limiter is keyed by what the caller passes: key by a verified subject,
// never by a raw header or a client address, so that a client cannot mint
// itself fresh buckets. Use one limiter per rate (per tier or route), and
// with Redis give each its own Prefix.
//
// # Quick start
//
//	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 10, Burst: 20}) // 10/s, bursts of 20
//	if err != nil { ... }
//	d, err := lim.Allow(ctx, claims.Subject, 1)
//	if err == nil && !d.Allowed { /* 429, Retry-After: d.RetryAfter */ }
//
// Shared across replicas:
//
//	lim, err := redislimit.New(redislimit.Config{
//		Addr: "redis:6379", Rate: 10, Burst: 20,
//		FailurePolicy: ratelimit.FailLocal, // when Redis is down: per-replica limits,
//		Replicas:      3,                   // each a third of the shared one
//	})
//	if err != nil { ... }
//	defer lim.Close()
//
// Observers: LocalConfig and redislimit.Config take an Observer func([Event]) called after each
// decision (allowed, limited, or error with the policy's answer), for a
// metrics package to count; this package imports no metrics library.
package ratelimit
