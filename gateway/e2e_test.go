package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func ptr[T any](v T) *T { return &v }

func testConfig(issuer, up string) Config {
	return Config{
		Listen:    "127.0.0.1:0",
		Issuer:    issuer,
		Audiences: []string{"api"},
		Routes: []Route{
			{
				Prefix: "/api/", Upstream: up, Scopes: []string{"read"},
				ClaimHeaders:      map[string]string{"sub": "X-User", "email": "X-User-Email"},
				DropAuthorization: true,
				UpstreamAuth:      &UpstreamAuth{Header: "X-Upstream-Key", Env: "UP_KEY"},
			},
			{Prefix: "/admin", Upstream: up, Scopes: []string{"admin"}},
			{Prefix: "/limited/", Upstream: up, Rate: ptr(0.001), Burst: ptr(3), Weight: 2},
			{Prefix: "/strip/", Upstream: up + "/base", StripPrefix: true},
			{Prefix: "/", Upstream: up},
		},
	}
}

// gw is a gateway serving on a loopback port.
type gw struct {
	*Gateway
	url    string
	client *http.Client
}

func startGateway(t *testing.T, cfg Config, tune func(*cache.Config)) *gw {
	t.Helper()
	return startGatewayOpts(t, cfg, Options{Cache: tune})
}

// startGatewayOpts is startGateway with opts, whose Transport, HTTPClient
// and LookupEnv the test's replace (and a nil Logger, quiet). Its url is https:// with
// cfg.TLS (and its client then trusts nothing: make one of your own).
func startGatewayOpts(t *testing.T, cfg Config, opts Options) *gw {
	t.Helper()
	lookup := gwtest.Env(map[string]string{"UP_KEY": "sk-upstream"})
	cfg, err := cfg.Validate(lookup) // for its Listen
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	cacheTr := &http.Transport{}
	opts.Transport, opts.HTTPClient, opts.LookupEnv = tr, &http.Client{Transport: cacheTr}, lookup
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	g, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	clientTr := &http.Transport{}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		g.Close()
		tr.CloseIdleConnections()
		cacheTr.CloseIdleConnections()
		clientTr.CloseIdleConnections()
	})
	return &gw{Gateway: g, url: g.Scheme() + "://" + ln.Addr().String(), client: &http.Client{Transport: clientTr}}
}

func (g *gw) waitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

func (g *gw) get(t *testing.T, path, token string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestValidTokenReachesUpstreamWithClaimHeaders(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, testConfig(p.Issuer(), up.URL), nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}, Extra: map[string]any{"email": "alice@example.com"}})

	// The client tries to forge the claim headers; the gateway overwrites them.
	resp, body := g.get(t, "/api/items", tok, "X-User", "mallory", "X-User-Email", "m@evil")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Path    string
		Headers http.Header
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	h := got.Headers
	if got.Path != "/api/items" || h.Get("X-User") != "alice" || h.Get("X-User-Email") != "alice@example.com" ||
		len(h.Values("X-User")) != 1 {
		t.Errorf("upstream saw path %q headers %v", got.Path, h)
	}
	if h.Get("Authorization") != "" {
		t.Errorf("client's Authorization reached the upstream: %q", h.Get("Authorization"))
	}
	if h.Get("X-Upstream-Key") != "sk-upstream" {
		t.Errorf("upstream credential = %q", h.Get("X-Upstream-Key"))
	}

	// A token without the email claim: the client's forged header is removed.
	tok2 := p.Mint(t, jwtgatetest.Claims{Subject: "bob", Scopes: []string{"read"}})
	_, body = g.get(t, "/api/items", tok2, "X-User-Email", "forged@evil")
	if strings.Contains(body, "forged@evil") {
		t.Errorf("forged claim header reached the upstream: %s", body)
	}

	// Routes without drop_authorization pass the token on.
	_, body = g.get(t, "/other", tok)
	if !strings.Contains(body, "Bearer "+tok) {
		t.Errorf("catch-all route dropped Authorization: %s", body)
	}
	// strip_prefix.
	_, body = g.get(t, "/strip/x/y", tok)
	if !strings.Contains(body, `"path":"/base/x/y"`) {
		t.Errorf("strip_prefix: %s", body)
	}
}

func TestRejections(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	other := gwtest.StartIDP(t, false) // signs with keys the gateway does not know
	g := startGateway(t, testConfig(p.Issuer(), up.URL), nil)
	g.waitReady(t)
	good := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}})
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]

	cases := []struct {
		name, path, token string
		status            int
		www               string
	}{
		{"no token", "/api/x", "", 401, `Bearer realm="jwtgate"`},
		{"garbage", "/api/x", "not-a-jwt", 401, `error="invalid_token"`},
		{"bad signature", "/api/x", tampered, 401, `error="invalid_token"`},
		{"expired", "/api/x", p.Mint(t, jwtgatetest.Claims{Subject: "a", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(-time.Hour)}), 401, `error="invalid_token"`},
		{"wrong audience", "/api/x", p.Mint(t, jwtgatetest.Claims{Subject: "a", Scopes: []string{"read"}, Audience: "other"}), 401, `error="invalid_token"`},
		{"unknown issuer key", "/api/x", other.Mint(t, jwtgatetest.Claims{Subject: "a", Scopes: []string{"read"}}), 401, `error="invalid_token"`},
		{"missing scope", "/admin", good, 403, `error="insufficient_scope"`},
		{"missing scope below prefix", "/admin/users", good, 403, `error="insufficient_scope"`},
		{"no route match is not the admin route", "/administrator", good, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := g.get(t, c.path, c.token)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if www := resp.Header.Get("WWW-Authenticate"); !strings.Contains(www, c.www) {
				t.Errorf("WWW-Authenticate = %q, want %q", www, c.www)
			}
			if c.status >= 400 && strings.Contains(body, c.token) && c.token != "" {
				t.Errorf("body echoes the token: %s", body)
			}
		})
	}
}

func TestOverTheRateIs429(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, testConfig(p.Issuer(), up.URL), nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "carol"})
	// Burst 3, weight 2: the first request spends 2, the second needs 2 of 1.
	if resp, body := g.get(t, "/limited/a", tok); resp.StatusCode != 200 || resp.Header.Get("RateLimit-Remaining") != "1" {
		t.Fatalf("first: %d remaining=%q %s", resp.StatusCode, resp.Header.Get("RateLimit-Remaining"), body)
	}
	resp, _ := g.get(t, "/limited/a", tok)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Limit") != "3" {
		t.Fatalf("second: %d %v", resp.StatusCode, resp.Header)
	}
	// Another subject has its own bucket.
	if resp, _ := g.get(t, "/limited/a", p.Mint(t, jwtgatetest.Claims{Subject: "dave"})); resp.StatusCode != 200 {
		t.Fatalf("other subject: %d", resp.StatusCode)
	}
	_, metrics := g.get(t, "/metrics", "")
	for _, want := range []string{
		`jwtgate_requests_total{outcome="rejected",reason="rate_limited"} 1`,
		`jwtgate_ratelimit_decisions_total{decision="limited"} 1`,
		`jwtgate_ratelimit_decisions_total{decision="allowed"} 2`,
		// The in-process limiter's calls, counted by the route's decision
		// hook (Metrics.LocalRateLimitHook), one for each decision.
		`jwtgate_limiter_calls_total{backend="local",outcome="allowed"} 2`,
		`jwtgate_limiter_calls_total{backend="local",outcome="limited"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestSSEFirstEventArrivesBeforeUpstreamFinishes(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, testConfig(p.Issuer(), up.URL), nil)
	g.waitReady(t)
	req, _ := http.NewRequest(http.MethodGet, g.url+"/llm/sse", nil)
	req.Header.Set("Authorization", "Bearer "+p.Mint(t, jwtgatetest.Claims{Subject: "eve"}))
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	// The upstream is blocked on release: this read only succeeds if the
	// gateway forwarded the first event without waiting for the rest.
	line, err := r.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(up.Release)
	rest, err := io.ReadAll(r)
	if err != nil || !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestNewKeyAfterRotationPassesWithoutRestart(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	// A set fetched within the last UnknownKIDInterval is authoritative
	// (a kid not in it is 401 without a fetch); over real sockets, right
	// after the load, the interval must be all but zero for the new kid
	// to be fetched for at once.
	g := startGateway(t, testConfig(p.Issuer(), up.URL), func(c *cache.Config) { c.UnknownKIDInterval = time.Nanosecond })
	g.waitReady(t)
	before := p.Mint(t, jwtgatetest.Claims{Subject: "frank", Scopes: []string{"read"}})
	if resp, body := g.get(t, "/api/x", before); resp.StatusCode != 200 {
		t.Fatalf("before rotation: %d %s", resp.StatusCode, body)
	}
	if err := p.Rotate(); err != nil {
		t.Fatal(err)
	}
	after := p.Mint(t, jwtgatetest.Claims{Subject: "frank", Scopes: []string{"read"}})
	if after == before {
		t.Fatal("same token after rotation")
	}
	// The new kid is unknown to the gateway's cache: it refreshes on demand.
	if resp, body := g.get(t, "/api/x", after); resp.StatusCode != 200 {
		t.Fatalf("after rotation: %d %s", resp.StatusCode, body)
	}
	// The old key is in its grace period: old tokens still pass.
	if resp, body := g.get(t, "/api/y", before); resp.StatusCode != 200 {
		t.Fatalf("old token after rotation: %d %s", resp.StatusCode, body)
	}
}

func TestReadyzFollowsTheJWKS(t *testing.T) {
	p, up := gwtest.StartIDP(t, true), gwtest.StartUpstream(t)
	refreshed := make(chan struct{}, 64)
	g := startGateway(t, testConfig(p.Issuer(), up.URL), func(c *cache.Config) {
		c.RetryMin, c.RetryMax = 5*time.Millisecond, 20*time.Millisecond
		c.Observer.OnRefresh = gwtest.Chain(c.Observer.OnRefresh, func(cache.RefreshEvent) {
			select {
			case refreshed <- struct{}{}:
			default:
			}
		})
	})
	<-refreshed // at least one attempt failed against the down provider
	if resp, _ := g.get(t, "/readyz", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz while JWKS down: %d", resp.StatusCode)
	}
	if resp, _ := g.get(t, "/healthz", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	// No keys is the gateway's trouble, not the client's: 503, never 401.
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "gina", Scopes: []string{"read"}})
	if resp, body := g.get(t, "/api/x", tok); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("request while keys unavailable: %d %s", resp.StatusCode, body)
	}
	gwtest.SetDown(t, p, false)
	g.waitReady(t)
	if resp, _ := g.get(t, "/readyz", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after JWKS up: %d", resp.StatusCode)
	}
	if resp, body := g.get(t, "/api/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("request after keys loaded: %d %s", resp.StatusCode, body)
	}
}

// Tokens from either of two providers pass; each is checked with its own
// provider's keys, and /readyz waits for both.
func TestSeveralProviders(t *testing.T) {
	a, b, up := gwtest.StartIDP(t, false), gwtest.StartIDP(t, true), gwtest.StartUpstream(t)
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: a.Issuer(),
		Providers: []Provider{{Issuer: b.Issuer(), JWKSURL: b.JWKSURL()}},
		Routes:    []Route{{Prefix: "/", Upstream: up.URL}},
	}
	refreshed := make(chan string, 64)
	g := startGateway(t, cfg, func(c *cache.Config) {
		c.RetryMin, c.RetryMax = 5*time.Millisecond, 20*time.Millisecond
		iss := c.Issuer
		c.Observer.OnRefresh = gwtest.Chain(c.Observer.OnRefresh, func(cache.RefreshEvent) {
			select {
			case refreshed <- iss:
			default:
			}
		})
	})
	for iss := range refreshed { // wait until b has failed at least once
		if iss == b.Issuer() {
			break
		}
	}
	if resp, _ := g.get(t, "/readyz", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with one provider down: %d", resp.StatusCode)
	}
	gwtest.SetDown(t, b, false)
	g.waitReady(t)
	for _, p := range []*jwtgatetest.Issuer{a, b} {
		if resp, body := g.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "u"})); resp.StatusCode != http.StatusOK {
			t.Fatalf("token from %s: %d %s", p.Issuer(), resp.StatusCode, body)
		}
	}
	// A third provider's token is refused.
	c := gwtest.StartIDP(t, false)
	if resp, _ := g.get(t, "/x", c.Mint(t, jwtgatetest.Claims{Subject: "u"})); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown issuer: %d", resp.StatusCode)
	}
}
