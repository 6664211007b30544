package introspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
	"github.com/jwtgate/jwtgate/middleware"
)

// Client introspects tokens at one endpoint (RFC 7662) for the middleware:
// it is a middleware.Introspector (and a middleware.RevocationChecker).
// Answers are cached by (endpoint, SHA-256 of the token) until the
// answer's exp or MaxAge, inactive ones for NegativeMaxAge; concurrent
// look-ups of one token share one call; calls go through a circuit
// breaker, and any failure is ErrUnavailable (503), never an inactive
// token (401). Create it with New; it is safe for concurrent use; Close
// stops the calls in flight and waits for them.
type Client struct {
	cfg       Config
	cache     *Cache
	auth      *oauthclient.Authenticator
	discovery *oauthclient.Discoverer // nil with Config.Endpoint
	cb        *gobreaker.CircuitBreaker[*outcome]
	sem       chan struct{} // MaxConcurrent slots
	clock     bool          // Config.Now was set: it wins over a caller's reading

	endpoint atomic.Pointer[endpoint] // configured, or found by discovery

	ctx    context.Context // the Client's life: calls run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the call goroutines

	mu       sync.Mutex
	inflight map[cacheKey]*call // guarded by mu
	closed   bool               // guarded by mu
}

// endpoint is the endpoint's URL and its number in the cache.
type endpoint struct {
	url string
	id  uint64
}

// outcome is one call's answer.
type outcome struct {
	res   *middleware.IntrospectionResult // nil: inactive
	until int64                           // cache until (unix ns); 0: do not cache
}

// call is a look-up in flight that several requests wait for.
type call struct {
	done chan struct{}
	out  *outcome
	err  error
}

var (
	_ middleware.Introspector      = (*Client)(nil)
	_ middleware.IntrospectorAt    = (*Client)(nil)
	_ middleware.RevocationChecker = (*Client)(nil)
)

// discoveryKey is the in-flight slot of the one discovery call.
var discoveryKey = cacheKey{}

// New checks cfg and returns a Client. It makes no call: discovery, when
// needed, happens on first use, so an authorization server that is down
// at start is not an error.
func New(cfg Config) (*Client, error) {
	clock := cfg.Now != nil
	auth, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, cache: cfg.Cache, auth: auth, clock: clock, sem: make(chan struct{}, cfg.MaxConcurrent), inflight: map[cacheKey]*call{}}
	if c.cache == nil {
		c.cache = NewCache(cfg.CacheSize)
	}
	if cfg.Endpoint != "" {
		c.endpoint.Store(&endpoint{url: cfg.Endpoint, id: c.cache.endpointID(cfg.Endpoint)})
	} else if c.discovery, err = c.newDiscoverer(); err != nil {
		return nil, configErr("%w", err)
	}
	c.cb = gobreaker.NewCircuitBreaker[*outcome](gobreaker.Settings{
		Name:    "introspect",
		Timeout: cfg.BreakerOpen,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= cfg.BreakerFailures
		},
	})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Introspect returns the answer for an active token, an error matching
// middleware.ErrTokenInactive for an inactive one, and an error matching
// ErrUnavailable when it cannot decide. ctx bounds the wait, not the call,
// which goes on (for the other waiters and the cache) until Timeout.
func (c *Client) Introspect(ctx context.Context, token string) (*middleware.IntrospectionResult, error) {
	return c.IntrospectAt(ctx, token, time.Time{})
}

// IntrospectAt is Introspect at the caller's clock reading now (zero: the
// Client reads its own), for the middleware (middleware.IntrospectorAt):
// a cache hit then reads no clock. With Config.Now set, that clock wins.
func (c *Client) IntrospectAt(ctx context.Context, token string, now time.Time) (*middleware.IntrospectionResult, error) {
	var start time.Time
	if c.cfg.OnIntrospect != nil {
		start = time.Now()
	}
	if now.IsZero() || c.clock {
		now = c.cfg.Now()
	}
	res, result, err := c.introspect(ctx, token, now.UnixNano())
	if c.cfg.OnIntrospect != nil {
		ep := ""
		if p := c.endpoint.Load(); p != nil {
			ep = p.url
		}
		c.cfg.OnIntrospect(Event{Endpoint: ep, Result: result, Duration: time.Since(start), Err: err})
	}
	if result == "inactive" || result == "negative_hit" {
		return nil, errInactive
	}
	return res, err
}

// errInactive is the answer for every inactive token: it never says why,
// and never carries the token.
var errInactive = fmt.Errorf("introspect: %w", middleware.ErrTokenInactive)

func (c *Client) introspect(ctx context.Context, token string, now int64) (*middleware.IntrospectionResult, string, error) {
	if token == "" {
		return nil, "inactive", nil
	}
	ep, err := c.resolveEndpoint(ctx)
	if err != nil {
		return nil, "error", err
	}
	k := cacheKey{endpoint: ep.id, sum: sum(token)}
	if e, ok := c.cache.get(&k, now); ok {
		if e.res == nil {
			return nil, "negative_hit", nil
		}
		return e.res, "hit", nil
	}
	out, err := c.wait(ctx, k, func(ctx context.Context) (*outcome, error) { return c.call(ctx, ep.url, token, now) })
	switch {
	case err != nil:
		return nil, "error", err
	case out.res == nil:
		return nil, "inactive", nil
	}
	return out.res, "active", nil
}

// resolveEndpoint returns the endpoint, discovering it once when only the
// Issuer is configured.
func (c *Client) resolveEndpoint(ctx context.Context) (*endpoint, error) {
	if p := c.endpoint.Load(); p != nil {
		return p, nil
	}
	_, err := c.wait(ctx, discoveryKey, func(ctx context.Context) (*outcome, error) {
		if c.endpoint.Load() != nil {
			return &outcome{}, nil
		}
		ep, err := c.discovery.Endpoint(ctx)
		if err != nil {
			c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "introspect: discovery failed", slog.String("issuer", c.cfg.Issuer), slog.Any("err", err))
			return nil, unavailable{fmt.Errorf("introspect: %w", err)}
		}
		c.endpoint.Store(&endpoint{url: ep, id: c.cache.endpointID(ep)})
		return &outcome{}, nil
	})
	if err != nil {
		return nil, err
	}
	return c.endpoint.Load(), nil
}

// wait joins the look-up in flight for k, or starts it (in a goroutine
// the Client owns, under its own life and Timeout), and waits for it or
// for ctx.
func (c *Client) wait(ctx context.Context, k cacheKey, fn func(context.Context) (*outcome, error)) (*outcome, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, unavailable{ErrClosed}
	}
	cl := c.inflight[k]
	if cl == nil {
		if len(c.inflight) >= c.cfg.MaxPending {
			c.mu.Unlock()
			return nil, unavailable{errors.New("introspect: too many look-ups pending")}
		}
		cl = &call{done: make(chan struct{})}
		c.inflight[k] = cl
		c.wg.Add(1)
		go c.run(k, cl, fn)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.out, cl.err
	case <-ctx.Done():
		return nil, unavailable{fmt.Errorf("introspect: %w", ctx.Err())}
	}
}

func (c *Client) run(k cacheKey, cl *call, fn func(context.Context) (*outcome, error)) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
		cl.out, cl.err = fn(ctx)
		<-c.sem
	case <-ctx.Done():
		cl.err = unavailable{fmt.Errorf("introspect: waiting for a slot: %w", ctx.Err())}
	}
	if cl.err == nil && cl.out.until > 0 && k != discoveryKey {
		c.cache.put(cacheEntry{key: k, res: cl.out.res, until: cl.out.until})
	}
	c.mu.Lock()
	delete(c.inflight, k)
	c.mu.Unlock()
	close(cl.done)
}

// call asks the endpoint about token, through the breaker; now is the
// reading the look-up is made at.
func (c *Client) call(ctx context.Context, ep, token string, now int64) (*outcome, error) {
	out, err := c.cb.Execute(func() (*outcome, error) { return c.post(ctx, ep, token, now) })
	if err != nil {
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			err = unavailable{fmt.Errorf("introspect: breaker open: %w", err)}
		}
		c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "introspect: endpoint could not decide",
			slog.String("endpoint", ep), slog.Any("err", err))
		return nil, err
	}
	return out, nil
}

// post makes one introspection request and reads its answer. The answer is
// reused from now (the reading the look-up was made at, on the clock the
// cache is read with) until min(exp, now+MaxAge).
func (c *Client) post(ctx context.Context, ep, token string, now int64) (*outcome, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := c.auth.NewRequest(ctx, ep, form)
	if err != nil {
		return nil, unavailable{fmt.Errorf("introspect: request: %w", err)}
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		// url.Error quotes the URL only, never the body: the token stays out.
		return nil, unavailable{fmt.Errorf("introspect: %w", err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, unavailable{fmt.Errorf("%w (%d)", ErrClientRejected, resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return nil, unavailable{fmt.Errorf("introspect: endpoint answered %d", resp.StatusCode)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, unavailable{fmt.Errorf("introspect: reading the answer: %w", err)}
	}
	if int64(len(b)) > c.cfg.MaxResponseBytes {
		return nil, malformed("larger than MaxResponseBytes")
	}
	a, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if !a.Active {
		out := &outcome{}
		if c.cfg.NegativeMaxAge > 0 {
			out.until = now + int64(c.cfg.NegativeMaxAge)
		}
		return out, nil
	}
	until := now + int64(c.cfg.MaxAge)
	if !a.Exp.IsZero() && a.Exp.UnixNano() < until {
		until = a.Exp.UnixNano()
	}
	// The answer says until when it is reused, so that the Verifier can
	// keep it as long and no longer, in its verified-token cache. Not with
	// a clock of the Client's own (Config.Now): the Verifier's differs.
	resUntil := time.Time{}
	if !c.clock && until > now {
		resUntil = time.Unix(0, until)
	}
	out := &outcome{res: middleware.NewIntrospectionResultUntil(ep, string(b), resUntil)}
	if until > now {
		out.until = until
	}
	return out, nil
}

// IntrospectsJWTs reports Config.IntrospectJWTs (middleware.RevocationChecker).
func (c *Client) IntrospectsJWTs() bool { return c.cfg.IntrospectJWTs }

// Endpoint returns the introspection endpoint, and false while discovery
// has not found it yet.
func (c *Client) Endpoint() (string, bool) {
	if p := c.endpoint.Load(); p != nil {
		return p.url, true
	}
	return "", false
}

// Cache returns the Client's cache (its own, or Config.Cache).
func (c *Client) Cache() *Cache { return c.cache }

// Close stops the calls in flight (their waiters get ErrUnavailable) and
// waits for them. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}
