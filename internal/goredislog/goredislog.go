// Package goredislog routes go-redis's own log lines through slog, once per
// process, for every jwtgate package that makes a go-redis client (the
// Redis limiter, the Redis replay store).
package goredislog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// routeGoRedisLog installs goRedisLog as go-redis's logger, once per
// process, from the first Install (redislimit.New, redisreplay.New).
//
// It is package-level state because go-redis's logger is (redis.SetLogger):
// v9.23 has no per-client logger, and its pool dials on a context detached
// from the call, so a line cannot be traced back to the limiter whose client
// wrote it. Left alone, go-redis prints every failed dial to stderr,
// unstructured: about once a second per replica during an outage, repeating
// what each Redis limiter already says once, at Warn, through its Logger.
//
// The lines go to slog.Default() rather than to a limiter's Logger: with
// several limiters (tiers, routes) holding different Loggers, the last one
// made would otherwise take every line, those of clients not its own too.
// Once, so that an application that wants go-redis's lines elsewhere can
// call redis.SetLogger after its first New and keep its choice.
var routeGoRedisLog sync.Once

// goRedisLog forwards go-redis's log lines to a slog.Logger: failed dials
// at Debug, since each Redis limiter reports the outage itself (rate
// limited: once when it starts, once when it ends), everything else at Warn.
type goRedisLog struct {
	// dest is looked up at each line so that slog.SetDefault, made after
	// NewRedis, is followed.
	dest func() *slog.Logger
}

func (g goRedisLog) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	// The format tells a dial failure ("...failed to dial after %d
	// attempts: %v"), so that a line below the logger's level is dropped
	// before any formatting.
	level := slog.LevelWarn
	if strings.Contains(format, "failed to dial") {
		level = slog.LevelDebug
	}
	l := g.dest()
	if !l.Enabled(ctx, level) {
		return
	}
	msg := fmt.Sprintf(format, v...)
	l.LogAttrs(ctx, level, msg, slog.String("logger", "go-redis"))
}

// Install routes go-redis's log to slog.Default(), once per process; see
// routeGoRedisLog for why it is process-wide.
func Install() {
	routeGoRedisLog.Do(func() { redis.SetLogger(goRedisLog{dest: slog.Default}) })
}
