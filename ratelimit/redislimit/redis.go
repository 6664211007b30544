package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/jwtgate/jwtgate/internal/boundkey"
	"github.com/jwtgate/jwtgate/internal/redisconn"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/internal/bucket"
	"github.com/redis/go-redis/v9"
)

// Defaults for Config.
const (
	DefaultPrefix          = "jwtgate:rl:"
	DefaultTimeout         = 50 * time.Millisecond
	DefaultBreakerFailures = 3
	DefaultBreakerCooldown = time.Second
	// failClosedRetryAfter is the Retry-After of a FailClosed denial: long
	// enough not to hammer a degraded service, short enough to come back
	// quickly once Redis does.
	failClosedRetryAfter = time.Second
)

// Config configures New. The zero value is not usable: Rate and
// one of Client or Addr must be set; every other field has a default.
type Config struct {
	// Client is the Redis client to use; several limiters (tiers, routes)
	// may share one. It must honour context deadlines, or Timeout cannot
	// hold: for *redis.Client, *redis.ClusterClient and *redis.Ring
	// New requires ContextTimeoutEnabled. A Cluster client works (each
	// call touches one key), and so does a Sentinel-backed one
	// (redis.NewFailoverClient). Close never closes a client it was
	// given. nil means New makes its own client for Addr.
	Client redis.UniversalClient
	// Addr is the "host:port" of the Redis server, used when Client is
	// nil. The client made for it honours deadlines, retries a failed
	// command once (within Timeout) and is closed by Close.
	Addr string
	// Prefix is put before every key, so that a shared Redis keeps the
	// limiter's keys apart. "" means "jwtgate:rl:". redis_rate adds its
	// own "rate:" in front: the Redis key is "rate:" + Prefix + key. Give
	// each limit (tier, route) sharing a Redis its own Prefix.
	Prefix string
	// Rate is how many units a key earns per Period. Must be positive.
	Rate int
	// Period is the time over which Rate units are earned. 0 means one
	// second.
	Period time.Duration
	// Burst is the most units a key can spend at once. 0 means Rate.
	Burst int
	// MaxKeyBytes bounds the key bytes sent to and stored in Redis: a
	// longer key is replaced by its SHA-256 (33 bytes). 0 means 128.
	MaxKeyBytes int
	// Timeout bounds each Allow's time in Redis, so a slow Redis never
	// stalls requests: past it, the failure policy decides. 0 means 50ms.
	Timeout time.Duration
	// FailurePolicy is what to answer when Redis cannot be used. The zero
	// value (FailDefault) is FailOpen.
	FailurePolicy ratelimit.FailurePolicy
	// LocalMaxKeys bounds the FailLocal fallback limiter's keys. 0 means
	// DefaultMaxKeys. Ignored for other policies.
	LocalMaxKeys int
	// Replicas is how many replicas share this limit (the same Redis and
	// Prefix), for FailLocal: while Redis is down each replica allows its
	// 1/Replicas share, Rate/Replicas per Period from a bucket of
	// Burst/Replicas (rounded down, at least 1), so that together they
	// stay within the shared limit if requests are spread evenly; a
	// client whose requests all reach one replica gets only that share,
	// and a request costing more than it is refused until Redis is back
	// (Decision.Limit is then the share).
	// Running more replicas than Replicas loosens the bound by that
	// factor, fewer tightens it. 0 means 1: each replica allows the whole
	// limit. Ignored for other policies.
	Replicas int
	// BreakerFailures is how many consecutive Redis failures make the
	// limiter stop trying Redis for BreakerCooldown (the failure policy
	// answers at once meanwhile); after the cooldown one call probes Redis
	// and a success resumes normal operation. 0 means 3. Negative means
	// never stop: every call tries Redis.
	BreakerFailures int
	// BreakerCooldown is how long to stop trying Redis. 0 means one second.
	BreakerCooldown time.Duration
	// Now is the clock for the breaker and the FailLocal fallback (Redis
	// itself keeps time with its TIME command). nil means time.Now.
	Now func() time.Time
	// Logger receives the outage and recovery messages: one Warn when
	// Redis fails after a success, one Info when it answers again, however
	// many requests the outage sees. nil means slog.Default(). go-redis's
	// own lines (failed dials) go to slog.Default() at Debug, whatever
	// Logger is: see New.
	Logger *slog.Logger
	// Observer, when not nil, is called after every decision, on the
	// calling goroutine, with no lock held. It must be fast and safe for
	// concurrent use. nil means no calls.
	Observer func(ratelimit.Event)
}

// Stats are a Redis limiter's counters since New.
type Stats struct {
	// RedisErrors counts calls to Redis that failed or ran past Timeout.
	RedisErrors uint64
	// PolicyDecisions counts decisions made by the failure policy (after
	// a Redis error, or with Redis skipped by the breaker).
	PolicyDecisions uint64
	// BreakerOpen reports whether calls are currently kept from Redis.
	BreakerOpen bool
}

// Redis is a Limiter shared by every replica that uses the same Redis and
// Prefix: the generic cell rate algorithm (GCRA) of redis_rate, run as one
// Lua script per call, with Redis's own clock, so replicas agree exactly
// whatever their clocks say. Keys expire in Redis once their bucket is full
// again, so Redis memory is bounded by the keys active within one refill.
//
// Each call spends at most Timeout waiting for Redis; when Redis fails, the
// FailurePolicy decides. It recovers by itself: after a failure the next
// call tries Redis again, and after BreakerFailures failures in a row one
// call per BreakerCooldown does.
//
// Its zero value is not usable; use New. It is safe for concurrent use.
// Close releases the client if New made it.
type Limiter struct {
	lim      bucket.Limit
	rl       *redis_rate.Limiter
	rlimit   redis_rate.Limit
	client   redis.UniversalClient
	owned    bool // Close closes client
	prefix   string
	maxKey   int
	timeout  time.Duration
	policy   ratelimit.FailurePolicy
	local    *ratelimit.Local // FailLocal only
	now      func() time.Time
	log      *slog.Logger
	observe  func(ratelimit.Event)
	breaker  backoff
	down     atomic.Bool           // between a logged outage and its logged recovery
	lastErr  atomic.Pointer[error] // the latest Redis failure, for skipped calls
	errs     atomic.Uint64
	policied atomic.Uint64
	closing  sync.Once

	// fullRefill is how long an empty bucket takes to fill, for seeding
	// the FailLocal fallback from Redis's ResetAfter.
	fullRefill time.Duration
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New validates cfg, fills its defaults and returns a limiter. It does
// not contact Redis: a Redis that is down at start is not an error, the
// failure policy covers it.
//
// The first successful New in a process routes go-redis's own log
// (process-wide, see redis.SetLogger) to slog.Default(): failed dials at
// Debug, since the limiter logs the outage itself, anything else at Warn,
// instead of unstructured lines on stderr. Call redis.SetLogger afterwards
// to send them elsewhere; New does not set it again.
func New(cfg Config) (*Limiter, error) {
	lim, err := newLimit(cfg.Rate, cfg.Period, cfg.Burst)
	if err != nil {
		return nil, err
	}
	r := &Limiter{
		lim:     lim,
		rlimit:  redis_rate.Limit{Rate: lim.Rate, Burst: lim.Burst, Period: lim.Period},
		prefix:  cfg.Prefix,
		timeout: cfg.Timeout,
		policy:  cfg.FailurePolicy.Or(ratelimit.FailOpen),
		now:     cfg.Now,
		log:     cfg.Logger,
		observe: cfg.Observer,
	}
	r.fullRefill = lim.Earn(float64(lim.Burst))
	if r.prefix == "" {
		r.prefix = DefaultPrefix
	}
	if r.maxKey, err = maxKeyBytes(cfg.MaxKeyBytes); err != nil {
		return nil, err
	}
	switch {
	case r.timeout < 0:
		return nil, &ratelimit.ConfigError{Field: "Timeout", Reason: "must not be negative"}
	case r.timeout == 0:
		r.timeout = DefaultTimeout
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	switch r.policy {
	case ratelimit.FailOpen, ratelimit.FailClosed:
	case ratelimit.FailLocal:
		n := cfg.Replicas
		switch {
		case n < 0:
			return nil, &ratelimit.ConfigError{Field: "Replicas", Reason: "must not be negative"}
		case n == 0:
			n = 1
		case lim.Period > math.MaxInt64/time.Duration(n):
			return nil, &ratelimit.ConfigError{Field: "Replicas", Reason: "too large for Period"}
		}
		// Rate/n per Period is Rate per n Periods: the share stays in
		// whole units, which is what LocalConfig takes.
		r.local, err = ratelimit.NewLocal(ratelimit.LocalConfig{
			Rate: lim.Rate, Period: lim.Period * time.Duration(n), Burst: max(lim.Burst/n, 1),
			MaxKeys: cfg.LocalMaxKeys, MaxKeyBytes: r.maxKey, Now: r.now,
		})
		if err != nil {
			var ce *ratelimit.ConfigError
			if errors.As(err, &ce) {
				ce.Field = "Local" + ce.Field
			}
			return nil, err
		}
	default:
		return nil, &ratelimit.ConfigError{Field: "FailurePolicy", Reason: fmt.Sprintf("unknown policy %d", uint8(r.policy))}
	}
	switch n := cfg.BreakerFailures; {
	case n < 0:
		r.breaker.threshold = 0
	case n == 0:
		r.breaker.threshold = DefaultBreakerFailures
	default:
		r.breaker.threshold = int64(n)
	}
	switch c := cfg.BreakerCooldown; {
	case c < 0:
		return nil, &ratelimit.ConfigError{Field: "BreakerCooldown", Reason: "must not be negative"}
	case c == 0:
		r.breaker.cooldown = DefaultBreakerCooldown
	default:
		r.breaker.cooldown = c
	}

	client, owned, problem := redisconn.Open(cfg.Addr, cfg.Client)
	switch problem {
	case redisconn.NoAddr:
		return nil, &ratelimit.ConfigError{Field: "Addr", Reason: "set Client or Addr"}
	case redisconn.NilClient:
		return nil, errNilClient()
	case redisconn.NoContextTimeout:
		return nil, errNoContextTimeout()
	}
	r.client, r.owned = client, owned
	r.rl = redis_rate.NewLimiter(r.client)
	return r, nil
}

func errNoContextTimeout() error {
	return &ratelimit.ConfigError{Field: "Client", Reason: "needs ContextTimeoutEnabled so that Timeout holds"}
}

func errNilClient() error { return &ratelimit.ConfigError{Field: "Client", Reason: "is a nil pointer"} }

// Allow spends cost units of key's shared bucket if it holds that many.
// A cost above the burst is refused with CostExceedsLimit (nothing is
// spent); a negative cost is ErrInvalidCost. When Redis cannot be used the
// failure policy decides and the error is nil; the error is the caller's
// own ctx.Err() (wrapped) when ctx ends before Redis answers.
func (r *Limiter) Allow(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
	if cost < 0 {
		return ratelimit.Decision{Limit: r.lim.Burst}, ratelimit.ErrInvalidCost
	}
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{Limit: r.lim.Burst}, fmt.Errorf("ratelimit: %w", err)
	}
	bkey := boundkey.Bound(key, r.maxKey)
	if !r.breaker.try(r.now()) {
		var err error = ratelimit.ErrUnavailable
		if p := r.lastErr.Load(); p != nil {
			err = *p
		}
		return r.fallback(key, cost, err, true, 0), nil
	}

	// A cost above the burst is never allowed; ask Redis for the key's
	// state without spending (n = 0) so the answer still says what is left.
	n := cost
	if cost > r.lim.Burst {
		n = 0
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	start := time.Now() // latency is a measurement, not behaviour: real clock
	res, err := r.rl.AllowN(cctx, r.prefix+bkey, r.rlimit, n)
	latency := time.Since(start)
	cancel()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The caller gave up; Redis is not to blame.
			return ratelimit.Decision{Limit: r.lim.Burst}, fmt.Errorf("ratelimit: %w", cerr)
		}
		err = fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
		r.failed(err)
		return r.fallback(key, cost, err, false, latency), nil
	}
	r.recovered()
	if r.local != nil {
		// Keep the fallback bucket where Redis says the key is, so that
		// an outage starts from what the key has left, not a full bucket.
		// Redis's bucket was empty fullRefill-ResetAfter ago; the local
		// one is set empty at the same moment and, earning 1/Replicas as
		// fast, holds 1/Replicas of what Redis holds (capped at its own
		// burst). ResetAfter is relative, so the clocks need not agree.
		r.local.SetEmptyAt(key, r.now().Add(res.ResetAfter-r.fullRefill))
	}

	var d ratelimit.Decision
	if n != cost {
		d = tooCostly(r.lim, res.Remaining, max(res.ResetAfter, 0))
	} else {
		d = ratelimit.Decision{
			// redis_rate reports Allowed = cost, which is 0 for a cost
			// of 0; a cost of 0 is always allowed (RetryAfter is -1).
			Allowed:    res.Allowed > 0 || (n == 0 && res.RetryAfter < 0),
			Limit:      r.lim.Burst,
			Remaining:  max(res.Remaining, 0),
			ResetAfter: max(res.ResetAfter, 0),
		}
		if !d.Allowed {
			d.RetryAfter = max(res.RetryAfter, time.Nanosecond)
			// redis_rate reports 0 remaining on a denial; what is left
			// follows from the wait: cost minus the units still to earn.
			// (A small margin absorbs the float text Redis sends back.)
			left := float64(n) - float64(d.RetryAfter)/float64(r.lim.EarnOne())
			d.Remaining = min(max(int(math.Floor(left+1e-6)), 0), r.lim.Burst)
		}
	}
	if r.observe != nil {
		o := ratelimit.OutcomeAllowed
		if !d.Allowed {
			o = ratelimit.OutcomeLimited
		}
		r.observe(ratelimit.Event{Backend: "redis", Outcome: o, Key: key, Cost: cost, Decision: d, Latency: latency})
	}
	return d, nil
}

// fallback is the failure policy's decision.
func (r *Limiter) fallback(key string, cost int, err error, skipped bool, latency time.Duration) ratelimit.Decision {
	r.policied.Add(1)
	burst := r.lim.Burst
	var d ratelimit.Decision
	switch {
	case r.policy == ratelimit.FailLocal:
		// Allow errs only for a negative cost, refused before.
		d, _ = r.local.Allow(context.Background(), key, cost)
		if d.CostExceedsLimit && cost <= burst {
			// Above this replica's share but within the shared burst:
			// refused while Redis is down, not forever, so not a cost
			// the client must never send again.
			d.CostExceedsLimit = false
			d.RetryAfter = failClosedRetryAfter
		}
	case cost > burst:
		d = tooCostly(r.lim, burst, 0)
	case r.policy == ratelimit.FailClosed:
		d = ratelimit.Decision{Limit: burst, ResetAfter: r.lim.Earn(float64(burst)), RetryAfter: failClosedRetryAfter}
	default: // FailOpen
		d = ratelimit.Decision{Allowed: true, Limit: burst, Remaining: burst - cost, ResetAfter: r.lim.Earn(float64(cost))}
	}
	d.Degraded = true
	if r.observe != nil {
		r.observe(ratelimit.Event{
			Backend: "redis", Outcome: ratelimit.OutcomeError, Key: key, Cost: cost, Decision: d,
			Err: err, Policy: r.policy, RedisSkipped: skipped, Latency: latency,
		})
	}
	return d
}

func (r *Limiter) failed(err error) {
	r.errs.Add(1)
	r.lastErr.Store(&err)
	r.breaker.failure(r.now())
	if r.down.CompareAndSwap(false, true) {
		r.log.Warn("ratelimit: redis unavailable, failure policy decides until it is back",
			"policy", r.policy.String(), "err", err)
	}
}

func (r *Limiter) recovered() {
	r.breaker.success()
	if r.down.Load() && r.down.CompareAndSwap(true, false) {
		r.log.Info("ratelimit: redis available again", "policy", r.policy.String())
	}
}

// Stats returns the limiter's counters.
func (r *Limiter) Stats() Stats {
	return Stats{
		RedisErrors:     r.errs.Load(),
		PolicyDecisions: r.policied.Load(),
		BreakerOpen:     r.breaker.open(),
	}
}

// Close closes the Redis client if New made it (from Addr); a client
// passed in Config.Client is left open. It is idempotent. Allow after Close
// answers by the failure policy.
func (r *Limiter) Close() error {
	var err error
	r.closing.Do(func() {
		if r.owned {
			err = r.client.Close()
		}
	})
	return err
}

// newLimit validates the rate fields of Config.
func newLimit(rateN int, period time.Duration, burst int) (bucket.Limit, error) {
	l, field, reason := bucket.New(rateN, period, burst)
	if field != "" {
		return bucket.Limit{}, &ratelimit.ConfigError{Field: field, Reason: reason}
	}
	return l, nil
}

// maxKeyBytes validates and defaults Config.MaxKeyBytes.
func maxKeyBytes(n int) (int, error) {
	m, ok := bucket.MaxKeyBytes(n, ratelimit.DefaultMaxKeyBytes)
	if !ok {
		return 0, &ratelimit.ConfigError{Field: "MaxKeyBytes", Reason: "must not be negative"}
	}
	return m, nil
}

// tooCostly is the decision for a cost above the burst, as ratelimit.Local
// answers it: never allowed, and the suggested back-off is one full refill.
func tooCostly(l bucket.Limit, remaining int, resetAfter time.Duration) ratelimit.Decision {
	return ratelimit.Decision{
		Limit:            l.Burst,
		Remaining:        remaining,
		ResetAfter:       resetAfter,
		RetryAfter:       l.Earn(float64(l.Burst)),
		CostExceedsLimit: true,
	}
}
