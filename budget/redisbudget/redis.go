// Package redisbudget keeps token budgets in Redis, so that every replica
// of a gateway spends one budget per key: one INCRBY (with its expiry, in
// a small Lua script) per charge and one GET per check. It is a package
// of its own so that a program with in-process budgets does not link
// go-redis.
//
// # Quick start
//
//	b, err := redisbudget.New(redisbudget.Config{
//		Addr: "redis:6379", Limit: 1_000_000, Window: budget.PerMonth,
//		FailurePolicy: ratelimit.FailLocal, Replicas: 3,
//	})
//	if err != nil { ... }
//	defer b.Close()
//	h, err := budget.NewHandler(budget.Config{Budget: b})
package redisbudget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/budget/internal/usedmath"
	"github.com/jwtgate/jwtgate/internal/boundkey"
	"github.com/jwtgate/jwtgate/internal/redisconn"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Defaults for Config.
const (
	DefaultPrefix  = "jwtgate:budget:"
	DefaultTimeout = 50 * time.Millisecond
	// expirySlack keeps a window's key a little past the window's end,
	// so a replica whose clock runs late still finds it.
	expirySlack = time.Minute
	// failClosedRetryAfter is the Retry-After of a FailClosed refusal.
	failClosedRetryAfter = time.Second
)

// Config configures New. Limit, Window and one of Client or Addr must be
// set; every other field has a default.
type Config struct {
	// Client is the Redis client; several budgets may share one. For
	// *redis.Client, *redis.ClusterClient and *redis.Ring New requires
	// ContextTimeoutEnabled, so that Timeout holds. A Cluster or
	// Sentinel-backed client works: each call touches one key. Close never
	// closes a client it was given. nil: New makes one for Addr.
	Client redis.UniversalClient
	// Addr is Redis's "host:port", used when Client is nil.
	Addr string
	// Prefix is put before every key: give each budget (tier, route)
	// sharing a Redis its own. "" means "jwtgate:budget:". The Redis key
	// is Prefix + key + ":" + the window's start in Unix seconds.
	Prefix string
	// Limit and Window are the budget, as in budget.LocalConfig.
	Limit  int64
	Window budget.Window
	// MaxKeyBytes bounds the key bytes sent to Redis (a longer key is
	// replaced by its SHA-256). 0 means 128.
	MaxKeyBytes int
	// Timeout bounds each call's time in Redis; past it the failure
	// policy decides. 0 means 50ms.
	Timeout time.Duration
	// FailurePolicy is what to do when Redis cannot be used:
	// ratelimit.FailOpen (the default) lets Check pass and loses the
	// charge (reported); FailClosed refuses every Check (Retry-After 1s);
	// FailLocal keeps an in-process budget of Limit/Replicas per key,
	// starting from this replica's share of what Redis last reported for
	// it. Every such decision has Decision.Degraded set.
	FailurePolicy ratelimit.FailurePolicy
	// Replicas is how many replicas share the budget, for FailLocal. 0
	// means 1 (each replica allows the whole Limit during an outage).
	Replicas int
	// LocalMaxKeys bounds the FailLocal budget's keys. 0 means 100,000.
	LocalMaxKeys int
	// Now is the clock the windows are computed from; replicas must
	// agree on it to within expirySlack (a minute) for their windows to
	// line up. nil means time.Now.
	Now func() time.Time
	// Logger receives one Warn when Redis fails after a success and one
	// Info when it answers again. nil means slog.Default().
	Logger *slog.Logger
	// OnFailure, when not nil, is called for every call Redis failed,
	// with the policy's answer, on the calling goroutine. nil: no calls.
	OnFailure func(FailureEvent)
}

// FailureEvent describes one call that Redis could not answer.
type FailureEvent struct {
	Op       string // "check" or "charge"
	Err      error  // wraps ratelimit.ErrUnavailable
	Policy   ratelimit.FailurePolicy
	Decision ratelimit.Decision
	// Lost reports a charge that was not recorded anywhere (FailOpen,
	// FailClosed).
	Lost bool
}

// Budget is a budget.Budget in Redis. Its zero value is not usable; use
// New. It is safe for concurrent use. Close releases the client if New
// made it.
type Budget struct {
	client  redis.UniversalClient
	owned   bool
	prefix  string
	limit   int64
	window  budget.Window
	maxKey  int
	timeout time.Duration
	policy  ratelimit.FailurePolicy
	share   int64
	local   *budget.Local // FailLocal only
	now     func() time.Time
	log     *slog.Logger
	onFail  func(FailureEvent)
	down    atomic.Bool
}

var _ budget.Budget = (*Budget)(nil)

// chargeScript adds to the window's count and sets its expiry once, in
// one round trip, so a key never lives without an expiry. The expiry is
// relative (PEXPIRE), so Redis's own clock need not agree with ours.
var chargeScript = redis.NewScript(`
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
`)

// New validates cfg and returns a budget. It does not contact Redis.
func New(cfg Config) (*Budget, error) {
	if err := budget.Validate(cfg.Limit, cfg.Window); err != nil {
		return nil, err
	}
	b := &Budget{prefix: cfg.Prefix, limit: cfg.Limit, window: cfg.Window, maxKey: cfg.MaxKeyBytes,
		timeout: cfg.Timeout, policy: cfg.FailurePolicy.Or(ratelimit.FailOpen), now: cfg.Now, log: cfg.Logger, onFail: cfg.OnFailure}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	switch {
	case b.maxKey < 0:
		return nil, &budget.ConfigError{Field: "MaxKeyBytes", Reason: "must not be negative"}
	case b.maxKey == 0:
		b.maxKey = budget.DefaultMaxKeyBytes
	}
	switch {
	case b.timeout < 0:
		return nil, &budget.ConfigError{Field: "Timeout", Reason: "must not be negative"}
	case b.timeout == 0:
		b.timeout = DefaultTimeout
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	switch b.policy {
	case ratelimit.FailOpen, ratelimit.FailClosed:
	case ratelimit.FailLocal:
		n := int64(cfg.Replicas)
		switch {
		case n < 0:
			return nil, &budget.ConfigError{Field: "Replicas", Reason: "must not be negative"}
		case n == 0:
			n = 1
		}
		b.share = n
		var err error
		b.local, err = budget.NewLocal(budget.LocalConfig{Limit: max(cfg.Limit/n, 1), Window: cfg.Window,
			MaxKeys: cfg.LocalMaxKeys, MaxKeyBytes: b.maxKey, Now: b.now})
		if err != nil {
			return nil, err
		}
	default:
		return nil, &budget.ConfigError{Field: "FailurePolicy", Reason: fmt.Sprintf("unknown policy %d", uint8(b.policy))}
	}
	client, owned, problem := redisconn.Open(cfg.Addr, cfg.Client)
	switch problem {
	case redisconn.NoAddr:
		return nil, &budget.ConfigError{Field: "Addr", Reason: "set Client or Addr"}
	case redisconn.NilClient:
		return nil, errClient()
	case redisconn.NoContextTimeout:
		return nil, errClient()
	}
	b.client, b.owned = client, owned
	return b, nil
}

func errClient() error {
	return &budget.ConfigError{Field: "Client", Reason: "must be non-nil with ContextTimeoutEnabled, so that Timeout holds"}
}

// Limit returns the budget's Limit and Window.
func (b *Budget) Limit() (int64, budget.Window) { return b.limit, b.window }

// Close closes the client if New made it.
func (b *Budget) Close() error {
	if b.owned {
		return b.client.Close()
	}
	return nil
}

func (b *Budget) redisKey(key string, start time.Time) string {
	return b.prefix + boundkey.Bound(key, b.maxKey) + ":" + strconv.FormatInt(start.Unix(), 10)
}

// Check reports whether key has anything left in the current window.
func (b *Budget) Check(ctx context.Context, key string) (ratelimit.Decision, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, fmt.Errorf("budget: %w", err)
	}
	now := b.now()
	start, end := b.window.Bounds(now)
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	used, err := b.client.Get(cctx, b.redisKey(key, start)).Int64()
	cancel()
	if errors.Is(err, redis.Nil) {
		used, err = 0, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return ratelimit.Decision{}, fmt.Errorf("budget: %w", ctx.Err())
		}
		return b.fail("check", key, 0, err, end.Sub(now)), nil
	}
	b.recovered()
	if b.local != nil {
		b.local.Seed(key, used/b.share)
	}
	return usedmath.Decide(b.limit, used, end.Sub(now)), nil
}

// Charge adds cost to key's use in the current window, even when ctx has
// ended (see budget.Budget).
func (b *Budget) Charge(ctx context.Context, key string, cost int64) (ratelimit.Decision, error) {
	if cost < 0 {
		return ratelimit.Decision{}, budget.ErrInvalidCost
	}
	now := b.now()
	start, end := b.window.Bounds(now)
	// A charge pays for a request that has happened: it is made even when
	// ctx has ended (the client left), bounded by Timeout alone, or a
	// client that hangs up would be served for free and its cancellation
	// would pass for a Redis outage.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
	used, err := chargeScript.Run(cctx, b.client, []string{b.redisKey(key, start)},
		cost, (end.Sub(now) + expirySlack).Milliseconds()).Int64()
	cancel()
	if err != nil {
		return b.fail("charge", key, cost, err, end.Sub(now)), nil
	}
	b.recovered()
	if b.local != nil {
		b.local.Seed(key, used/b.share)
	}
	return usedmath.Decide(b.limit, used, end.Sub(now)), nil
}

func (b *Budget) fail(op, key string, cost int64, cause error, left time.Duration) ratelimit.Decision {
	err := fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, cause)
	if !b.down.Swap(true) {
		b.log.Warn("budget: redis unavailable, failure policy decides", "policy", b.policy.String(), "err", cause)
	}
	var d ratelimit.Decision
	lost := false
	switch b.policy {
	case ratelimit.FailOpen:
		d = usedmath.Decide(b.limit, 0, left)
		lost = op == "charge"
	case ratelimit.FailClosed:
		d = ratelimit.Decision{Limit: int(min(b.limit, int64(^uint(0)>>1))), RetryAfter: failClosedRetryAfter, ResetAfter: left}
		lost = op == "charge"
	case ratelimit.FailLocal:
		if op == "check" {
			d, _ = b.local.Check(context.Background(), key)
		} else {
			d, _ = b.local.Charge(context.Background(), key, cost)
		}
	}
	d.Degraded = true
	if b.onFail != nil {
		b.onFail(FailureEvent{Op: op, Err: err, Policy: b.policy, Decision: d, Lost: lost})
	}
	return d
}

func (b *Budget) recovered() {
	if b.down.Load() && b.down.Swap(false) {
		b.log.Info("budget: redis answers again")
	}
}
