package cache

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"
)

var _ jwkset.Storage = (*Cache)(nil)

// Cache keeps one provider's JWK Set fresh and serves key look-ups from
// memory. Create it with New; the zero value is not usable. It is safe for
// concurrent use. Close stops its background goroutine.
//
// *Cache implements jwkset.Storage read-only: KeyRead, KeyReadAll and the
// JSON/Marshal methods serve the current set; KeyWrite, KeyDelete and
// KeyReplaceAll return an error wrapping ErrReadOnly.
type Cache struct {
	cfg       Config
	client    *http.Client
	transport *http.Transport // the client's transport when the cache made it, else nil
	log       *slog.Logger

	// snap is the served set; refreshes replace it whole and never mutate
	// what it points to, so readers need no lock.
	snap atomic.Pointer[snapshot]

	ctx    context.Context // the cache's life: cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the refresh loop and every running flight

	closeOnce  sync.Once
	loaded     chan struct{} // closed once a set is first served
	loadedOnce sync.Once

	sf singleflight.Group
	// breaker is replaced whole when an unknown-kid probe that passed it
	// while open succeeds (gobreaker has no reset).
	breaker atomic.Pointer[gobreaker.CircuitBreaker[*response]]

	flightMu     sync.Mutex // guards the fields up to lastProbe
	flightActive bool       // a refresh is running under flightKey
	flightKey    string
	flightSeq    uint64
	flightFn     func() (any, error)
	// flightWaiters are the contexts of the reads waiting for the running
	// refresh (at most MaxEventWaiters), for its events.
	flightWaiters []context.Context
	probeAfter    time.Time // after a failed refresh: no unknown-kid probe before this
	lastProbe     time.Time // the start of the last unknown-kid or recheck refresh

	closed atomic.Bool // set by Close (under flightMu, so no flight starts after it)

	mu               sync.Mutex // guards the fields up to nextRefresh
	jwksURL          string     // discovered; "" until discovery succeeds
	discoveryExpires time.Time
	lastAttempt      time.Time
	lastSuccess      time.Time
	lastErr          error
	lastErrAt        time.Time
	failures         int // consecutive failed refreshes
	nextRefresh      time.Time
	triedFile        bool

	brkMu      sync.Mutex // guards brkPending
	brkPending []BreakerEvent

	fetches, fetchErrors, notModified, rejected, kidRefreshes, rechecks, deferredReads atomic.Uint64
}

// snapshot is a served key set, immutable apart from its stale latch.
type snapshot struct {
	byKID        map[string]*jwkset.JWK
	keys         []jwkset.JWK
	skipped      []SkippedKey
	digest       [sha256.Size]byte
	generation   uint64
	url          string
	etag         string
	lastModified string
	body         []byte // the raw document, for CacheFile
	fromFile     bool
	loadedAt     time.Time // when this content was first served
	validatedAt  time.Time // last 200 or 304 for it
	// checkedAt is when the request that last fetched or revalidated this
	// content was sent (zero for a set read from CacheFile): within
	// UnknownKIDInterval after it, the set is authoritative for a kid not
	// in it (see authoritative).
	checkedAt time.Time
	expiresAt time.Time
	staleAt   time.Time // expiresAt + MaxStale: not served from then on
	refreshAt time.Time // when the background refresh is due
	// stale latches true once staleAt has passed (set by staleTimer, by the
	// slow path, and by Close); see serve.
	stale      *atomic.Bool
	staleTimer *time.Timer
}

// New validates cfg, fills its defaults and starts the background refresh.
// It returns at once unless cfg.WaitForFirstLoad is set: a provider that is
// down at start is not an error, the cache keeps retrying and Ready stays
// false until a set is loaded.
//
// ctx bounds New itself (and the wait of WaitForFirstLoad) and provides
// values to the cache's requests; its cancellation does not stop the
// cache: Close does.
func New(ctx context.Context, cfg Config) (*Cache, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Cache{
		cfg:    cfg,
		log:    cfg.Logger.With(slog.String("jwks_provider", cfg.Name)),
		loaded: make(chan struct{}),
	}
	c.client, c.transport = httpClient(cfg.HTTPClient, cfg.AllowInsecureHTTP)
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.breaker.Store(c.newBreaker())
	c.wg.Add(1)
	go c.run()
	if cfg.WaitForFirstLoad {
		if err := c.WaitReady(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// newBreaker returns a closed circuit breaker for the cache's fetches.
func (c *Cache) newBreaker() *gobreaker.CircuitBreaker[*response] {
	var cb *gobreaker.CircuitBreaker[*response]
	cb = gobreaker.NewCircuitBreaker[*response](gobreaker.Settings{
		Name:        c.cfg.Name,
		MaxRequests: 1,
		Timeout:     c.cfg.BreakerTimeout,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= c.cfg.BreakerFailures
		},
		// Close cancelling a fetch says nothing about the provider's health.
		IsExcluded: func(error) bool { return c.ctx.Err() != nil },
		// gobreaker calls this with its own lock held: only queue the event.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if c.breaker.Load() != cb {
				return // a replaced breaker's late transition means nothing
			}
			c.queueBreakerEvent(from.String(), to.String())
		},
	})
	return cb
}

func (c *Cache) queueBreakerEvent(from, to string) {
	c.brkMu.Lock()
	c.brkPending = append(c.brkPending, BreakerEvent{Provider: c.cfg.Name, From: from, To: to, At: c.cfg.now()})
	c.brkMu.Unlock()
}

// Close stops the background refresh and any running fetch and waits for
// them. It is idempotent and always returns nil. After Close, Ready is
// false and reads return an error wrapping ErrKeysUnavailable and ErrClosed.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.flightMu.Lock()
		c.closed.Store(true)
		c.flightMu.Unlock()
		c.cancel()
		c.wg.Wait()
		if c.transport != nil {
			c.transport.CloseIdleConnections()
		}
		// No refresh runs any more: the served snapshot is final.
		if s := c.snap.Load(); s != nil {
			s.stale.Store(true)
			if s.staleTimer != nil {
				s.staleTimer.Stop()
			}
		}
	})
	return nil
}

// Ready reports whether a key set is loaded and not stale beyond MaxStale
// (and the cache is not closed). It is two atomic loads: cheap enough for
// every request.
func (c *Cache) Ready() bool {
	s := c.snap.Load()
	return s != nil && !s.stale.Load()
}

func (c *Cache) isClosed() bool { return c.closed.Load() }

// Generation is a counter that increases whenever the served keys' content
// changes (0 until the first load). It is one atomic load.
func (c *Cache) Generation() uint64 {
	if s := c.snap.Load(); s != nil {
		return s.generation
	}
	return 0
}

// WaitReady waits until a key set has been loaded, ctx ends, or the cache is
// closed. The error wraps ErrKeysUnavailable and ctx's error, and names the
// last fetch error.
func (c *Cache) WaitReady(ctx context.Context) error {
	select {
	case <-c.loaded:
		return nil
	default:
	}
	select {
	case <-c.loaded:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		if last != nil {
			return fmt.Errorf("%w: waiting for the first key set: %w (last error: %v)", ErrKeysUnavailable, ctx.Err(), last)
		}
		return fmt.Errorf("%w: waiting for the first key set: %w", ErrKeysUnavailable, ctx.Err())
	case <-c.ctx.Done():
		return fmt.Errorf("%w: %w", ErrKeysUnavailable, ErrClosed)
	}
}

// KeyRead returns the key with the given kid. On a hit it takes no lock and
// allocates nothing.
//
// A kid not in the set is judged by freshness. If the served set was
// fetched or revalidated (200 or 304) by a request sent within the last
// UnknownKIDInterval (1s), it is authoritative and the kid is unknown, with
// no fetch. Otherwise the read waits, at most UnknownKIDWait (and ctx), for
// one conditional refetch shared by all callers, started at most once per
// UnknownKIDInterval; the refetch itself goes on under the cache's own
// life. The answer is then the key, or one of two errors, and the
// difference matters to clients (401 makes them throw the token away, 503
// makes them retry it):
//
//   - 401, an error wrapping jwkset.ErrKeyNotFound only: an authoritative
//     set does not hold the kid (the served one, or the one the refetch
//     brought); or the kid is empty, or unknown-kid refreshes are off.
//   - 503, a *DeferredError wrapping ErrKeysUnavailable (and
//     jwkset.ErrKeyNotFound): no authoritative set could be had: the
//     provider is failing (probed at most once a second), the refetch
//     outlasted UnknownKIDWait, or ctx ended. Its RetryAfter method says
//     when a refresh that can find the kid may start.
//
// With no servable set (never loaded, stale beyond MaxStale, or closed) the
// error wraps ErrKeysUnavailable, for every kid.
func (c *Cache) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	if s := c.snap.Load(); s != nil {
		if k := s.byKID[kid]; k != nil && !s.stale.Load() {
			return *k, nil
		}
	}
	return c.keyReadSlow(ctx, kid)
}

func (c *Cache) keyReadSlow(ctx context.Context, kid string) (jwkset.JWK, error) {
	now := c.cfg.now()
	s, err := c.servable(now)
	if err != nil {
		return jwkset.JWK{}, err
	}
	if k := s.byKID[kid]; k != nil {
		return *k, nil
	}
	return c.unknownKID(ctx, s, kid, now)
}

// servable returns the current snapshot if it may be served at now.
func (c *Cache) servable(now time.Time) (*snapshot, error) {
	if c.isClosed() {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, ErrClosed)
	}
	s := c.snap.Load()
	if s == nil {
		return nil, fmt.Errorf("%w: no key set loaded yet", ErrKeysUnavailable)
	}
	if s.stale.Load() || !now.Before(s.staleAt) {
		s.stale.Store(true)
		return nil, fmt.Errorf("%w: key set expired at %s, beyond MaxStale %s",
			ErrKeysUnavailable, s.expiresAt.UTC().Format(time.RFC3339), c.cfg.MaxStale)
	}
	return s, nil
}

// KeyReadAll returns the served keys (a copy of the slice; the keys are shared
// and read-only). Keys without a kid are included.
func (c *Cache) KeyReadAll(context.Context) ([]jwkset.JWK, error) {
	s, err := c.servable(c.cfg.now())
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.keys), nil
}

// KeyWrite returns an error wrapping ErrReadOnly.
func (c *Cache) KeyWrite(context.Context, jwkset.JWK) error {
	return fmt.Errorf("%w: KeyWrite", ErrReadOnly)
}

// KeyDelete returns an error wrapping ErrReadOnly.
func (c *Cache) KeyDelete(context.Context, string) (bool, error) {
	return false, fmt.Errorf("%w: KeyDelete", ErrReadOnly)
}

// KeyReplaceAll returns an error wrapping ErrReadOnly.
func (c *Cache) KeyReplaceAll(context.Context, []jwkset.JWK) error {
	return fmt.Errorf("%w: KeyReplaceAll", ErrReadOnly)
}

// memory copies the served keys into a jwkset memory storage, to reuse its
// marshalling; these methods are for debugging and re-publishing, not the
// request path.
func (c *Cache) memory(ctx context.Context) (*jwkset.MemoryJWKSet, error) {
	keys, err := c.KeyReadAll(ctx)
	if err != nil {
		return nil, err
	}
	m := jwkset.NewMemoryStorage()
	if err := m.KeyReplaceAll(ctx, keys); err != nil {
		return nil, err
	}
	return m, nil
}

// JSON returns the served set as JSON (public keys only: the cache never
// holds private material).
func (c *Cache) JSON(ctx context.Context) (json.RawMessage, error) {
	m, err := c.memory(ctx)
	if err != nil {
		return nil, err
	}
	return m.JSON(ctx)
}

// JSONPublic is JSON.
func (c *Cache) JSONPublic(ctx context.Context) (json.RawMessage, error) {
	m, err := c.memory(ctx)
	if err != nil {
		return nil, err
	}
	return m.JSONPublic(ctx)
}

// JSONPrivate is JSON: the cache holds no private key material.
func (c *Cache) JSONPrivate(ctx context.Context) (json.RawMessage, error) {
	return c.JSONPublic(ctx)
}

// JSONWithOptions marshals the served set with the given options.
func (c *Cache) JSONWithOptions(ctx context.Context, mo jwkset.JWKMarshalOptions, vo jwkset.JWKValidateOptions) (json.RawMessage, error) {
	m, err := c.memory(ctx)
	if err != nil {
		return nil, err
	}
	return m.JSONWithOptions(ctx, mo, vo)
}

// Marshal returns the served set as a jwkset.JWKSMarshal.
func (c *Cache) Marshal(ctx context.Context) (jwkset.JWKSMarshal, error) {
	m, err := c.memory(ctx)
	if err != nil {
		return jwkset.JWKSMarshal{}, err
	}
	return m.Marshal(ctx)
}

// MarshalWithOptions returns the served set as a jwkset.JWKSMarshal with the given options.
func (c *Cache) MarshalWithOptions(ctx context.Context, mo jwkset.JWKMarshalOptions, vo jwkset.JWKValidateOptions) (jwkset.JWKSMarshal, error) {
	m, err := c.memory(ctx)
	if err != nil {
		return jwkset.JWKSMarshal{}, err
	}
	return m.MarshalWithOptions(ctx, mo, vo)
}
