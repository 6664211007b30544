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

	sf      singleflight.Group
	breaker *gobreaker.CircuitBreaker[*response]

	flightMu     sync.Mutex // guards the fields up to lastKID
	flightActive bool       // a refresh is running under flightKey
	flightKey    string
	flightSeq    uint64
	flightFn     func() (any, error)
	lastKID      time.Time // start of the last unknown-kid refresh

	// Lock-free mirrors of flightActive and lastKID+UnknownKIDInterval, so
	// that a flood of unknown kids is turned away without taking flightMu.
	flightRunning atomic.Bool
	kidNext       atomic.Int64 // unix nanos before which no unknown-kid refresh may start

	closed atomic.Bool // set by Close (under flightMu, so no flight starts after it)
	// failing mirrors "the last refresh failed" for the lock-free unknown-kid
	// path: a kid not in the set cannot be called unknown then.
	failing atomic.Bool

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

	fetches, fetchErrors, notModified, rejected, kidRefreshes atomic.Uint64
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
	expiresAt    time.Time
	staleAt      time.Time // expiresAt + MaxStale: not served from then on
	refreshAt    time.Time // when the background refresh is due
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
	c.breaker = gobreaker.NewCircuitBreaker[*response](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: 1,
		Timeout:     cfg.BreakerTimeout,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= cfg.BreakerFailures
		},
		// Close cancelling a fetch says nothing about the provider's health.
		IsExcluded: func(error) bool { return c.ctx.Err() != nil },
		// gobreaker calls this with its own lock held: only queue the event.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			c.brkMu.Lock()
			c.brkPending = append(c.brkPending, BreakerEvent{
				Provider: cfg.Name, From: from.String(), To: to.String(), At: c.cfg.now(),
			})
			c.brkMu.Unlock()
		},
	})
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
// allocates nothing. A kid not in the set triggers a refresh (at most one
// per UnknownKIDInterval, shared by all callers) that the caller waits for,
// bounded by ctx; the result is then the key or an error wrapping
// jwkset.ErrKeyNotFound. With no servable set the error wraps ErrKeysUnavailable;
// so does (besides ErrKeyNotFound) a kid not in the set when the refresh
// that would have looked for it failed, or the last refresh failed.
func (c *Cache) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	if s := c.snap.Load(); s != nil {
		if k := s.byKID[kid]; k != nil && !s.stale.Load() {
			return *k, nil
		}
	}
	return c.keyReadSlow(ctx, kid)
}

// errUnknownKID is returned for every kid not in the set. It does not name
// the kid: that comes from the token, and errors never echo token content.
var errUnknownKID = fmt.Errorf("cache: unknown kid: %w", jwkset.ErrKeyNotFound)

// errUnknownKIDFailing is returned for a kid not in the set when the refresh
// that would have found it failed (or the last one did, behind the
// unknown-kid gate): the token may well be good, so the kid is unknown
// (ErrKeyNotFound) and the keys to judge it unavailable (ErrKeysUnavailable,
// the middleware's 503) rather than the token invalid.
var errUnknownKIDFailing = fmt.Errorf("%w (%w: the provider is failing)", errUnknownKID, ErrKeysUnavailable)

func (c *Cache) keyReadSlow(ctx context.Context, kid string) (jwkset.JWK, error) {
	now := c.cfg.now()
	s, err := c.servable(now)
	if err != nil {
		return jwkset.JWK{}, err
	}
	if k := s.byKID[kid]; k != nil {
		return *k, nil
	}
	if kid == "" || c.cfg.UnknownKIDInterval < 0 {
		return jwkset.JWK{}, errUnknownKID
	}
	if !c.flightRunning.Load() && now.UnixNano() < c.kidNext.Load() {
		return c.lastLook(kid) // fast path of the gate below
	}
	ch := c.flight(ReasonUnknownKID, func(now time.Time) bool {
		// A refresh that finished after this caller's first look may have
		// brought the kid: fetching again for a key already held would let
		// late arrivals of one rotation cost a second fetch.
		if cur := c.snap.Load(); cur != nil && cur.byKID[kid] != nil {
			return false
		}
		if !c.lastKID.IsZero() && now.Sub(c.lastKID) < c.cfg.UnknownKIDInterval {
			return false
		}
		c.lastKID = now
		c.kidNext.Store(now.Add(c.cfg.UnknownKIDInterval).UnixNano())
		c.kidRefreshes.Add(1)
		return true
	})
	if ch == nil {
		return c.lastLook(kid)
	}
	var flightErr error
	select {
	case r := <-ch:
		flightErr = r.Err
	case <-ctx.Done():
		return jwkset.JWK{}, fmt.Errorf("%w: left the refresh: %w", errUnknownKID, ctx.Err())
	}
	if s, err = c.servable(c.cfg.now()); err != nil {
		return jwkset.JWK{}, err
	}
	if k := s.byKID[kid]; k != nil {
		return *k, nil
	}
	if flightErr != nil {
		return jwkset.JWK{}, errUnknownKIDFailing
	}
	return jwkset.JWK{}, errUnknownKID
}

// lastLook reads kid from the current snapshot after the unknown-kid gate
// refused a refresh: a refresh that finished since the caller's first look
// (installing its set before it cleared flightRunning) may have brought it.
func (c *Cache) lastLook(kid string) (jwkset.JWK, error) {
	if s := c.snap.Load(); s != nil && !s.stale.Load() {
		if k := s.byKID[kid]; k != nil {
			return *k, nil
		}
	}
	if c.failing.Load() {
		return jwkset.JWK{}, errUnknownKIDFailing
	}
	return jwkset.JWK{}, errUnknownKID
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
