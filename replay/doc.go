// Package replay remembers one-time values (a DPoP proof's jti, RFC 9449
// §11.1) for as long as they could be accepted, so that a captured value
// is refused the second time. Store is the interface the middleware calls;
// Memory is the bounded in-process store of one replica, and
// replay/redisreplay the store shared by every replica through Redis (a
// package of its own, so that go-redis stays out of programs that do not
// use it).
//
// Quick start:
//
//	st, err := replay.NewMemory(replay.MemoryConfig{MaxEntries: 100_000})
//	if err != nil { ... }
//	fresh, err := st.Add(ctx, key, time.Minute) // true the first time, false after
package replay
