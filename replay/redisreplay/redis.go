package redisreplay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/boundkey"
	"github.com/jwtgate/jwtgate/internal/redisconn"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/replay"
)

// Defaults for Config.
const (
	DefaultPrefix  = "jwtgate:replay:"
	DefaultTimeout = 50 * time.Millisecond
	// maxKeyBytes: a longer key is stored as its SHA-256, so an
	// attacker-sized value cannot grow Redis's memory.
	maxKeyBytes = 128
)

// FailurePolicy says what Add answers when Redis cannot be used: the one
// failure-policy type of every jwtgate store (ratelimit.FailurePolicy),
// whose FailDefault here means FailClosed.
//
// Deprecated: use ratelimit.FailurePolicy; this alias stays for older code.
type FailurePolicy = ratelimit.FailurePolicy

// The policies, as ratelimit's.
//
// Deprecated: use ratelimit.FailClosed, FailLocal and FailOpen.
const (
	// FailClosed returns replay.ErrUnavailable: the caller refuses the
	// request (the middleware answers 503). The default.
	FailClosed = ratelimit.FailClosed
	// FailLocal asks an in-process replay.Memory instead: a value replayed
	// to the same replica is still refused, one replayed to another is not.
	FailLocal = ratelimit.FailLocal
	// FailOpen accepts the value as fresh. Replays are then possible for
	// the outage's length; every such decision is counted and logged.
	FailOpen = ratelimit.FailOpen
)

// Config configures New. One of Client and Addr must be set.
type Config struct {
	// Client is the Redis client; Close never closes a client it was
	// given. It must honour context deadlines (ContextTimeoutEnabled for a
	// *redis.Client) or Timeout cannot hold. A Cluster or Sentinel-backed
	// client works: each call touches one key. Nil: New makes one for Addr.
	Client redis.UniversalClient
	// Addr is "host:port", used when Client is nil.
	Addr string
	// Prefix goes before every key. "" means DefaultPrefix.
	Prefix string
	// Timeout bounds each Add's time in Redis. 0 means 50ms.
	Timeout time.Duration
	// FailurePolicy: the zero value (ratelimit.FailDefault) is FailClosed.
	FailurePolicy FailurePolicy
	// Local configures the FailLocal fallback (its Now is the clock used).
	Local replay.MemoryConfig
	// Logger gets one Warn per outage and one Info per recovery. Nil:
	// slog.Default().
	Logger *slog.Logger
}

// Stats are the store's counters since New.
type Stats struct {
	RedisErrors     uint64 // Redis calls that failed or timed out
	PolicyDecisions uint64 // answers given by the failure policy
}

// Store is a replay.Store in Redis. Create it with New; safe for
// concurrent use.
type Store struct {
	client  redis.UniversalClient
	owned   bool
	prefix  string
	timeout time.Duration
	policy  FailurePolicy
	local   *replay.Memory // FailLocal only
	log     *slog.Logger

	closed   atomic.Bool
	down     atomic.Bool
	errs     atomic.Uint64
	policied atomic.Uint64
	once     sync.Once
}

var _ replay.Store = (*Store)(nil)

// New validates cfg. It does not contact Redis: a Redis that is down at
// start is the failure policy's business, not an error.
func New(cfg Config) (*Store, error) {
	s := &Store{prefix: cfg.Prefix, timeout: cfg.Timeout, policy: cfg.FailurePolicy.Or(ratelimit.FailClosed), log: cfg.Logger}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	switch {
	case s.timeout < 0:
		return nil, fmt.Errorf("%w: Timeout must not be negative", replay.ErrInvalidConfig)
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	switch s.policy {
	case FailClosed, FailOpen:
	case FailLocal:
		var err error
		if s.local, err = replay.NewMemory(cfg.Local); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown FailurePolicy %d", replay.ErrInvalidConfig, uint8(s.policy))
	}
	client, owned, problem := redisconn.Open(cfg.Addr, cfg.Client)
	switch problem {
	case redisconn.NoAddr:
		return nil, fmt.Errorf("%w: set Client or Addr", replay.ErrInvalidConfig)
	case redisconn.NilClient:
		return nil, fmt.Errorf("%w: Client is nil or lacks ContextTimeoutEnabled", replay.ErrInvalidConfig)
	case redisconn.NoContextTimeout:
		return nil, fmt.Errorf("%w: Client is nil or lacks ContextTimeoutEnabled", replay.ErrInvalidConfig)
	}
	s.client, s.owned = client, owned
	return s, nil
}

// Add implements replay.Store with SET key 1 NX PX ttl. A ttl below one
// millisecond is rounded up to one (PX 0 is an error in Redis).
func (s *Store) Add(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if s.closed.Load() {
		return false, replay.ErrClosed
	}
	// The one bounding rule of every store: a short key can never spell
	// a long key's stand-in.
	key = boundkey.Bound(key, maxKeyBytes)
	ttl = max(ttl, time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	fresh, err := s.client.SetNX(cctx, s.prefix+key, "1", ttl).Result()
	cancel()
	if err == nil {
		if s.down.CompareAndSwap(true, false) {
			s.log.Info("jwtgate: replay store: Redis answers again")
		}
		return fresh, nil
	}
	if ctx.Err() != nil {
		// The caller gave up: not an outage, and not a reason to guess.
		return false, fmt.Errorf("replay: %w", ctx.Err())
	}
	if s.closed.Load() {
		return false, replay.ErrClosed
	}
	s.errs.Add(1)
	if s.down.CompareAndSwap(false, true) {
		s.log.Warn("jwtgate: replay store: Redis unavailable, failure policy applies",
			slog.String("policy", s.policy.String()), slog.Any("err", err))
	}
	s.policied.Add(1)
	switch s.policy {
	case FailOpen:
		return true, nil
	case FailLocal:
		return s.local.Add(ctx, key, ttl)
	}
	return false, fmt.Errorf("%w: %w", replay.ErrUnavailable, err)
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{RedisErrors: s.errs.Load(), PolicyDecisions: s.policied.Load()}
}

// Close makes every later Add return replay.ErrClosed and closes the
// client if New made it. Idempotent.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		if s.owned {
			if cerr := s.client.Close(); cerr != nil && !errors.Is(cerr, redis.ErrClosed) {
				err = cerr
			}
		}
	})
	return err
}
