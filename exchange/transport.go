package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
	"github.com/jwtgate/jwtgate/internal/upstreamcred"
	"github.com/jwtgate/jwtgate/middleware"
)

// Transport is an http.RoundTripper that sends each request upstream with
// a token exchanged for the request's verified subject token (the claims a
// middleware.Verifier put in its context), never with the subject token
// itself. Create it with New (the zero value is not usable) and release it
// with Close. Safe for concurrent use.
//
// Exchanged tokens are cached by the subject token's SHA-256, the audience
// and the scope, until their expires_in and never past the subject
// token's exp; concurrent requests with one subject token share one call
// to the token endpoint. Calls go through a circuit breaker. When no
// token can be had, RoundTrip returns an error wrapping ErrExchange and
// the upstream is not called: WriteError turns it into the answer.
type Transport struct {
	cfg          Config
	auth         *oauthclient.Authenticator
	discovery    *oauthclient.Discoverer // nil with Config.TokenEndpoint
	client       *http.Client
	ownTransport *http.Transport // nil with Config.HTTPClient
	cache        *tokenCache
	breaker      *gobreaker.CircuitBreaker[tokenResponse]

	ctx    context.Context // bounds every exchange; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the running exchanges

	mu      sync.Mutex // guards closed, flights and each flight's waiters
	closed  bool
	flights map[subjectKey]*flight // by cache key, while their call runs

	closeOnce sync.Once
}

// flight is one running call to the token endpoint, in a goroutine of the
// Transport's own. It leaves the flights map before done is closed, so a
// request arriving after that finds the cached token or starts a new
// flight, never one that has ended.
type flight struct {
	done    chan struct{} // closed once tok and err are set
	tok     string
	err     error
	waiters int // requests that joined after the first; guarded by Transport.mu
}

var _ http.RoundTripper = (*Transport)(nil)

// New validates cfg and returns a Transport. It starts no goroutine and
// makes no request: the first exchange does (discovery included).
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	auth, err := cfg.authenticator()
	if err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg, auth: auth, cache: newTokenCache(cfg.MaxEntries), flights: make(map[subjectKey]*flight)}
	var c http.Client
	if cfg.HTTPClient != nil {
		c = *cfg.HTTPClient
	} else {
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			t.ownTransport = dt.Clone()
			c.Transport = t.ownTransport
		}
		c.Timeout = cfg.Timeout
	}
	// A redirected POST would carry the secret and the subject token to
	// wherever the redirect says: answer it as the endpoint's failure.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.client = &c
	if cfg.TokenEndpoint == "" {
		t.discovery, err = oauthclient.NewDiscoverer(oauthclient.DiscoveryConfig{Issuer: cfg.Issuer, Member: oauthclient.TokenEndpoint,
			Client: t.client, AllowInsecureHTTP: cfg.AllowInsecureHTTP, MaxBytes: cfg.MaxBodyBytes, Now: cfg.Now})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.breaker = gobreaker.NewCircuitBreaker[tokenResponse](gobreaker.Settings{
		Name:        "exchange",
		MaxRequests: 1,
		Timeout:     cfg.BreakerTimeout,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= uint32(cfg.BreakerFailures) },
		// A refusal is an answer: the endpoint is up.
		IsSuccessful: func(err error) bool { return err == nil || !errors.Is(err, ErrUnavailable) },
		// Close cancelling a call says nothing about the endpoint.
		IsExcluded: func(error) bool { return t.ctx.Err() != nil },
	})
	return t, nil
}

// Close cancels the running exchanges and waits for them; later requests
// fail with ErrClosed. It is idempotent and returns nil.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		t.mu.Unlock()
		t.cancel()
		t.wg.Wait()
		if t.ownTransport != nil {
			t.ownTransport.CloseIdleConnections()
		}
	})
	return nil
}

// RoundTrip exchanges the verified subject token in req's context and
// sends a copy of req with the exchanged token in Config.Header through
// Config.Next. The copy carries nothing of the subject token: a header or
// a query parameter holding it is removed, and so is a DPoP proof (made
// for the subject token). On failure it returns an error wrapping
// ErrExchange and Next is not called.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := middleware.ClaimsFromContext(req.Context())
	tok, err := t.token(req.Context(), c)
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip's contract, even on failure
		}
		return nil, err
	}
	return t.cfg.Next.RoundTrip(upstreamcred.Prepare(req, c.Token(), t.cfg.Header, t.cfg.Scheme, tok))
}

// Token returns the upstream token for the verified claims in ctx (a
// cached one, or a fresh exchange), for callers that are not HTTP (a gRPC
// client's per-RPC credentials). Its errors are RoundTrip's.
func (t *Transport) Token(ctx context.Context) (string, error) {
	c, _ := middleware.ClaimsFromContext(ctx)
	return t.token(ctx, c)
}

func (t *Transport) token(ctx context.Context, c *middleware.Claims) (string, error) {
	if c == nil || c.Token() == "" {
		return "", fmt.Errorf("%w: %w: %w", ErrExchange, ErrNoSubjectToken, middleware.ErrTokenMissing)
	}
	if _, bound := c.Confirmation(); bound && t.cfg.Binding == BindingRefuse {
		return "", fmt.Errorf("%w: %w: %w", ErrExchange, ErrSenderConstrained, middleware.ErrSenderConstrained)
	}
	subject := c.Token()
	key := cacheKey(subject)
	if tok, ok := t.cache.get(key, t.cfg.Now()); ok {
		return tok, nil
	}
	f := t.join(key, subject, c.ExpiresAt)
	if f == nil {
		return "", fmt.Errorf("%w: %w: %w", ErrExchange, ErrUnavailable, ErrClosed)
	}
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		// The flight goes on for the others (and the cache).
		return "", fmt.Errorf("%w: %w", ErrExchange, context.Cause(ctx))
	}
}

// join joins the flight for key or starts one; nil when closed.
func (t *Transport) join(key subjectKey, subject string, subjectExp time.Time) *flight {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	if f, ok := t.flights[key]; ok {
		f.waiters++
		return f
	}
	f := &flight{done: make(chan struct{})}
	t.flights[key] = f
	t.wg.Add(1)
	go t.fly(key, subject, subjectExp, f)
	return f
}

// fly is one flight: the call, the cache entry, the event, then the
// answer to its waiters.
func (t *Transport) fly(key subjectKey, subject string, subjectExp time.Time, f *flight) {
	defer t.wg.Done()
	defer close(f.done)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.Timeout)
	defer cancel()
	resp, status, err := t.call(ctx, subject)
	if err == nil {
		now := t.cfg.Now()
		ttl := resp.expiresIn
		if ttl == 0 {
			ttl = t.cfg.DefaultTTL
		}
		until := now.Add(ttl - t.cfg.ExpiryMargin)
		if !subjectExp.IsZero() && subjectExp.Before(until) {
			until = subjectExp
		}
		// Before the flight is gone: a request arriving after it finds
		// the token, not a new call.
		if until.After(now) {
			t.cache.put(key, resp.accessToken, until)
		}
	}
	t.mu.Lock()
	delete(t.flights, key)
	waiters := f.waiters
	t.mu.Unlock()
	if err != nil && t.ctx.Err() == nil { // Close's cancellation is no news
		t.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "exchange: no upstream token",
			slog.Int("status", status), slog.String("err", err.Error()))
	}
	if h := t.cfg.OnExchange; h != nil {
		h(Event{Status: status, Err: err, Duration: time.Since(start), Coalesced: waiters})
	}
	f.tok, f.err = resp.accessToken, err
}

// call asks the token endpoint once, through the breaker. Errors wrap
// ErrExchange and one of ErrUnavailable or ErrDenied (or neither, for an
// answer that says the gateway is misconfigured: 502).
func (t *Transport) call(ctx context.Context, subject string) (tokenResponse, int, error) {
	var status int
	resp, err := t.breaker.Execute(func() (tokenResponse, error) {
		endpoint, err := t.tokenEndpoint(ctx)
		if err != nil {
			return tokenResponse{}, err
		}
		req, err := t.auth.NewRequest(ctx, endpoint, t.form(subject))
		if err != nil {
			return tokenResponse{}, fmt.Errorf("%w: %w", ErrExchange, err)
		}
		r, err := t.client.Do(req)
		if err != nil {
			return tokenResponse{}, unavailable(stripURLError(err))
		}
		defer r.Body.Close()
		status = r.StatusCode
		body, err := readBody(r.Body, t.cfg.MaxBodyBytes)
		if err != nil {
			return tokenResponse{}, unavailable(err)
		}
		return classify(r.StatusCode, body)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = unavailable(fmt.Errorf("circuit breaker open: %w", err))
	}
	return resp, status, err
}

// classify reads a token endpoint answer.
func classify(status int, body []byte) (tokenResponse, error) {
	switch {
	case status >= 200 && status < 300:
		tr, err := parseTokenResponse(body)
		if err != nil {
			return tokenResponse{}, unavailable(err)
		}
		return tr, nil
	case status == http.StatusTooManyRequests || status >= 500 || status < 200 || status >= 300 && status < 400:
		code, desc := parseErrorResponse(body)
		return tokenResponse{}, unavailable(&OAuthError{Status: status, Code: code, Description: desc})
	}
	code, desc := parseErrorResponse(body)
	oe := &OAuthError{Status: status, Code: code, Description: desc}
	switch code {
	case "invalid_grant", "invalid_target", "invalid_scope", "access_denied", "unauthorized_client":
		// About this subject token, this audience or this scope.
		return tokenResponse{}, fmt.Errorf("%w: %w: %w", ErrExchange, ErrDenied, oe)
	}
	// invalid_client, invalid_request, unsupported_grant_type, none: the
	// gateway's configuration, not the client's request.
	return tokenResponse{}, fmt.Errorf("%w: %w", ErrExchange, oe)
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w: %w", ErrExchange, ErrUnavailable, err)
}

// stripURLError drops a *url.Error's URL (the endpoint, harmless, but
// keep error text one shape) and keeps the cause.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s token endpoint: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

func readBody(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading the token endpoint's answer: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: body exceeds %d bytes", ErrBadResponse, max)
	}
	return b, nil
}
