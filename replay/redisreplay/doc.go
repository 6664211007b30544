// Package redisreplay is the replay.Store shared by every replica of a
// service: each key is written with SET key 1 NX PX ttl, so the first
// replica to see a value wins and every later one, on any replica, is
// refused until Redis expires the key.
//
// When Redis cannot be used (down, or slower than Config.Timeout) the
// FailurePolicy decides: FailClosed (the default) returns
// replay.ErrUnavailable, so the request is refused with 503 and a replay
// is never accepted silently; FailLocal falls back to an in-process
// replay.Memory, which still refuses a value this replica has seen;
// FailOpen accepts. Every policy decision is counted (Stats) and the first
// of an outage is logged at Warn (the recovery at Info). After Close, Add
// always returns replay.ErrClosed.
//
// Quick start:
//
//	st, err := redisreplay.New(redisreplay.Config{Addr: "redis:6379"})
//	if err != nil { ... }
//	defer st.Close()
//	v, err := middleware.New(middleware.Config{..., DPoP: middleware.DPoP{Mode: middleware.DPoPRequired, Replay: st}})
package redisreplay
