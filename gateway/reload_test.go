package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// jwksCounter stands in front of an identity provider's JWK Set, counts
// the requests that reach it and, while held, keeps them waiting.
type jwksCounter struct {
	srv     *httptest.Server
	n       atomic.Int64
	arrived chan struct{} // a request arrived (buffered; never blocks the server)
	mu      sync.Mutex
	hold    chan struct{} // while not nil, requests wait for it to close
}

func countJWKS(t *testing.T, p *jwtgatetest.Issuer) *jwksCounter {
	t.Helper()
	u, err := url.Parse(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	c := &jwksCounter{arrived: make(chan struct{}, 1000)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		select {
		case c.arrived <- struct{}{}:
		default:
		}
		c.mu.Lock()
		hold := c.hold
		c.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *jwksCounter) URL() string { return c.srv.URL + jwtgatetest.JWKSPath }

// holdRequests makes requests wait until the returned func is called.
func (c *jwksCounter) holdRequests() (release func()) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.hold = ch
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.hold = nil
			c.mu.Unlock()
			close(ch)
		})
	}
}

// reloadConfig is a gateway on one provider (through a jwksCounter) with
// routes of the given prefixes, each proxying to up with the claim header
// X-Route naming the prefix.
func reloadConfig(p *jwtgatetest.Issuer, jwks, up string, prefixes ...string) Config {
	cfg := Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(), JWKSURL: jwks}
	for _, pr := range prefixes {
		cfg.Routes = append(cfg.Routes, Route{Prefix: pr, Upstream: up, ClaimHeaders: map[string]string{"sub": "X-Sub-" + strings.Trim(pr, "/")}})
	}
	return cfg
}

func reloads(t *testing.T, g *gw, result string) float64 {
	t.Helper()
	return counter(t, g.Registry(), "jwtgate_config_reloads_total", "result", result)
}

// A reload swaps the routes for new requests; a reload of a config that
// does not validate keeps the running one serving, logs each of its
// problems and counts an error; both results are counted.
func TestReloadSwapsRoutesAndBadConfigKeepsServing(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	jwks := countJWKS(t, p)
	logs := &gwtest.SyncBuffer{}
	var events []ReloadEvent
	var evMu sync.Mutex
	g := startGatewayOpts(t, reloadConfig(p, jwks.URL(), up.URL, "/a/"), Options{
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		OnReload: func(e ReloadEvent) { evMu.Lock(); events = append(events, e); evMu.Unlock() },
	})
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "u"})
	if resp, body := g.get(t, "/b/x", tok); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/b/ before the reload: %d %s", resp.StatusCode, body)
	}
	if reloads(t, g, "ok") != 0 || reloads(t, g, "error") != 0 {
		t.Fatal("reloads counted before any")
	}

	if err := g.Reload(context.Background(), reloadConfig(p, jwks.URL(), up.URL, "/a/", "/b/")); err != nil {
		t.Fatal(err)
	}
	if resp, body := g.get(t, "/b/x", tok); resp.StatusCode != http.StatusOK || !strings.Contains(body, "X-Sub-B") {
		t.Fatalf("/b/ after the reload: %d %s", resp.StatusCode, body)
	}

	bad := reloadConfig(p, jwks.URL(), up.URL, "/a/")
	bad.Routes = append(bad.Routes, Route{Prefix: "no-slash", Upstream: up.URL}, Route{Prefix: "/c/", Upstream: "ftp://nowhere"})
	err := g.Reload(context.Background(), bad)
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad config: %v, want ErrInvalidConfig", err)
	}
	for _, path := range []string{"/a/x", "/b/x"} {
		if resp, body := g.get(t, path, tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s after a refused reload: %d %s", path, resp.StatusCode, body)
		}
	}
	if ok, bad := reloads(t, g, "ok"), reloads(t, g, "error"); ok != 1 || bad != 1 {
		t.Fatalf("reloads ok %v error %v, want 1 and 1", ok, bad)
	}
	checkProblemLines(t, logs.String(), "no-slash", "ftp://nowhere")
	evMu.Lock()
	defer evMu.Unlock()
	if len(events) != 2 || events[0].Err != nil || events[0].Generation != 2 || !errors.Is(events[1].Err, ErrInvalidConfig) || events[1].Generation != 2 {
		t.Fatalf("events: %+v", events)
	}
}

// checkProblemLines checks that each problem has a log line of its own.
func checkProblemLines(t *testing.T, out string, problems ...string) {
	t.Helper()
	lines := 0
	for l := range strings.Lines(out) {
		if strings.Contains(l, "reload refused") {
			lines++
		}
	}
	for _, want := range problems {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks the problem %q:\n%s", want, out)
		}
	}
	if lines < len(problems) {
		t.Errorf("%d log lines for %d problems:\n%s", lines, len(problems), out)
	}
}

// Listen, tls and shutdown_timeout only change with a restart: a reload
// changing any of them is refused, saying which, and nothing else of it
// applies.
func TestReloadRefusesRestartOnlyChanges(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, reloadConfig(p, p.JWKSURL(), up.URL, "/a/"), nil)
	g.waitReady(t)
	for name, change := range map[string]func(*Config){
		"listen":           func(c *Config) { c.Listen = "127.0.0.1:1" },
		"shutdown_timeout": func(c *Config) { c.ShutdownTimeout = time.Minute },
	} {
		cfg := reloadConfig(p, p.JWKSURL(), up.URL, "/a/", "/b/")
		change(&cfg)
		err := g.Reload(context.Background(), cfg)
		if !errors.Is(err, ErrRestartRequired) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want ErrRestartRequired naming it", name, err)
		}
	}
	if resp, _ := g.get(t, "/b/x", p.Mint(t, jwtgatetest.Claims{Subject: "u"})); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a refused reload's route serves: %d", resp.StatusCode)
	}
	if n := reloads(t, g, "error"); n != 2 {
		t.Fatalf("%v errors counted, want 2", n)
	}
}

// An unchanged provider keeps its key cache: reloads fetch nothing.
func TestReloadKeepsUnchangedProviderKeys(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	jwks := countJWKS(t, p)
	var last ReloadEvent
	g := startGatewayOpts(t, reloadConfig(p, jwks.URL(), up.URL, "/a/"), Options{OnReload: func(e ReloadEvent) { last = e }})
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "u"})
	if resp, _ := g.get(t, "/a/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	before := jwks.n.Load()
	for i := range 5 {
		prefixes := []string{"/a/"}
		if i%2 == 0 {
			prefixes = append(prefixes, "/b/")
		}
		if err := g.Reload(context.Background(), reloadConfig(p, jwks.URL(), up.URL, prefixes...)); err != nil {
			t.Fatal(err)
		}
		if !g.Ready() {
			t.Fatal("not ready right after a reload that kept the provider")
		}
		if resp, body := g.get(t, "/a/x", tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("reload %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := jwks.n.Load(); n != before {
		t.Fatalf("%d JWK Set fetches during five reloads, want 0", n-before)
	}
	if !slices.ContainsFunc(last.Kept, func(s string) bool { return strings.HasPrefix(s, "provider ") }) {
		t.Fatalf("kept %q: no provider", last.Kept)
	}
}

// A new provider's keys are loaded before its routes serve: the reload
// waits, the running config serves meanwhile (the new route does not
// exist yet, so nothing on it is served unverified) and /readyz names the
// provider it waits for; then the new config serves.
func TestReloadWaitsForNewProviderKeys(t *testing.T) {
	a, b, up := gwtest.StartIDP(t, false), gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	bJWKS := countJWKS(t, b)
	cfg := Config{Listen: "127.0.0.1:0", Issuer: a.Issuer(), Routes: []Route{{Prefix: "/a/", Upstream: up.URL}}}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	release := bJWKS.holdRequests()
	defer release()

	next := cfg
	next.Providers = []Provider{{Issuer: b.Issuer(), JWKSURL: bJWKS.URL()}}
	next.Routes = []Route{{Prefix: "/a/", Upstream: up.URL}, {Prefix: "/b/", Upstream: up.URL}}
	done := make(chan error, 1)
	go func() { done <- g.Reload(context.Background(), next) }()
	<-bJWKS.arrived // the new provider's first fetch is waiting

	// The fetch starts as the new config is built; /readyz names it as
	// soon as the build has returned, microseconds later.
	resp, body := g.get(t, "/readyz", "")
	for !strings.Contains(body, `"reload"`) {
		resp, body = g.get(t, "/readyz", "")
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, b.Issuer()) {
		t.Fatalf("/readyz while the reload waits: %d %s", resp.StatusCode, body)
	}
	bTok := b.Mint(t, jwtgatetest.Claims{Subject: "u"})
	if resp, body := g.get(t, "/b/x", bTok); resp.StatusCode == http.StatusOK {
		t.Fatalf("/b/ served before its provider's keys: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.get(t, "/a/x", a.Mint(t, jwtgatetest.Claims{Subject: "u"})); resp.StatusCode != http.StatusOK {
		t.Fatalf("running config while the reload waits: %d %s", resp.StatusCode, body)
	}
	select {
	case err := <-done:
		t.Fatalf("reload returned before the keys: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if resp, body := g.get(t, "/b/x", bTok); resp.StatusCode != http.StatusOK {
		t.Fatalf("/b/ after the reload: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.get(t, "/readyz", ""); resp.StatusCode != http.StatusOK || strings.Contains(body, `"reload"`) {
		t.Fatalf("/readyz after the reload: %d %s", resp.StatusCode, body)
	}
}

// A new provider still without keys when the window ends: the reload is
// refused, the running config stays and the new route never serves.
func TestReloadWindowEndsWithoutKeys(t *testing.T) {
	a, b, up := gwtest.StartIDP(t, false), gwtest.StartIDP(t, true), gwtest.StartUpstream(t)
	cfg := Config{Listen: "127.0.0.1:0", Issuer: a.Issuer(), Routes: []Route{{Prefix: "/a/", Upstream: up.URL}}}
	g := startGatewayOpts(t, cfg, Options{ReloadWindow: 200 * time.Millisecond})
	g.waitReady(t)
	next := cfg
	next.Providers = []Provider{{Issuer: b.Issuer(), JWKSURL: b.JWKSURL()}}
	next.Routes = append(slices.Clone(cfg.Routes), Route{Prefix: "/b/", Upstream: up.URL})
	err := g.Reload(context.Background(), next)
	if !errors.Is(err, ErrKeysNotLoaded) || !strings.Contains(err.Error(), b.Issuer()) {
		t.Fatalf("reload with a provider down: %v, want ErrKeysNotLoaded naming it", err)
	}
	if resp, _ := g.get(t, "/b/x", b.Mint(t, jwtgatetest.Claims{Subject: "u"})); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/b/ after the refused reload: %d", resp.StatusCode)
	}
	if resp, body := g.get(t, "/readyz", ""); resp.StatusCode != http.StatusOK || strings.Contains(body, b.Issuer()) {
		t.Fatalf("/readyz after the refused reload: %d %s", resp.StatusCode, body)
	}
	if n := reloads(t, g, "error"); n != 1 {
		t.Fatalf("%v errors counted, want 1", n)
	}
	// The refused config's cache is closed: only the running one's
	// resources are left.
	if n := len(g.res.m); n != len(g.cur.Load().held) {
		t.Fatalf("%d resources held, the running config holds %d", n, len(g.cur.Load().held))
	}
}

// What subjects have spent on a route that a reload leaves as it is
// survives the reload; a route whose limit changes starts afresh.
func TestReloadKeepsRateLimitState(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := reloadConfig(p, p.JWKSURL(), up.URL, "/a/", "/limited/")
	cfg.Routes[1].Rate, cfg.Routes[1].Burst = ptr(0.001), ptr(2)
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "spender"})
	for i := range 2 {
		if resp, body := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if resp, _ := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the burst: %d", resp.StatusCode)
	}
	next := cfg
	next.Routes = append(slices.Clone(cfg.Routes), Route{Prefix: "/b/", Upstream: up.URL})
	if err := g.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if resp, _ := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after a reload that left the route alone: %d, want 429 still", resp.StatusCode)
	}
	changed := next
	changed.Routes = slices.Clone(next.Routes)
	for i := range changed.Routes {
		if changed.Routes[i].Prefix == "/limited/" {
			changed.Routes[i].Burst = ptr(5)
		}
	}
	if err := g.Reload(context.Background(), changed); err != nil {
		t.Fatal(err)
	}
	if resp, body := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("after a reload that changed the limit: %d %s", resp.StatusCode, body)
	}
}

// A request under way when a reload swaps the config finishes on the
// routes it started on, and what only the old config used (here its
// provider) is closed only after that request has ended.
func TestReloadInFlightFinishesOnOldConfig(t *testing.T) {
	a, b, up := gwtest.StartIDP(t, false), gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := Config{Listen: "127.0.0.1:0", Issuer: a.Issuer(), Routes: []Route{{Prefix: "/old/", Upstream: up.URL}}}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	old := g.cur.Load()
	oldCache := old.providers[0].c

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/old/slow", nil)
	req.Header.Set("Authorization", "Bearer "+a.Mint(t, jwtgatetest.Claims{Subject: "u"}))
	served := make(chan struct{})
	go func() { defer close(served); g.Handler().ServeHTTP(rec, req) }()
	<-up.Started

	next := Config{Listen: "127.0.0.1:0", Issuer: b.Issuer(), Routes: []Route{{Prefix: "/new/", Upstream: up.URL}}}
	if err := g.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if resp, _ := g.get(t, "/old/x", a.Mint(t, jwtgatetest.Claims{Subject: "u"})); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a new request on the old route: %d, want 404", resp.StatusCode)
	}
	if !oldCache.Ready() {
		t.Fatal("the old provider's cache closed under a request still running on it")
	}
	up.Release <- struct{}{}
	<-served
	if rec.Code != http.StatusOK || rec.Body.String() != "done" {
		t.Fatalf("in-flight request: %d %q", rec.Code, rec.Body)
	}
	if oldCache.Ready() {
		t.Fatal("the old provider's cache still open after the old config's last request")
	}
	if old.refs.Load() != 0 {
		t.Fatalf("old generation holds %d", old.refs.Load())
	}
}

// Concurrent reloads are serialized: each gets its own generation.
func TestConcurrentReloadsSerialized(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	var mu sync.Mutex
	gens := map[uint64]bool{}
	g := startGatewayOpts(t, reloadConfig(p, p.JWKSURL(), up.URL, "/a/"), Options{OnReload: func(e ReloadEvent) {
		mu.Lock()
		gens[e.Generation] = true
		mu.Unlock()
	}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			prefixes := []string{"/a/"}
			if i%2 == 0 {
				prefixes = append(prefixes, "/b/")
			}
			if err := g.Reload(context.Background(), reloadConfig(p, p.JWKSURL(), up.URL, prefixes...)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(gens) != 8 || g.cur.Load().id != 9 {
		t.Fatalf("generations %v, current %d: want 8 distinct, 9 current", gens, g.cur.Load().id)
	}
}

// After Close a reload is refused and builds nothing.
func TestReloadAfterClose(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	cfg := reloadConfig(p, p.JWKSURL(), "http://127.0.0.1:1", "/a/")
	g, err := New(context.Background(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if err := g.Reload(context.Background(), cfg); !errors.Is(err, ErrClosed) {
		t.Fatalf("reload after Close: %v", err)
	}
	if len(g.res.m) != 0 {
		t.Fatalf("%d resources after Close", len(g.res.m))
	}
}

// A new provider whose discovery document names another issuer (here:
// the configured one with a trailing slash) refuses the reload at once as
// a config error, as it stops the program at start.
func TestReloadRefusesAnIssuerMismatch(t *testing.T) {
	a, b, up := gwtest.StartIDP(t, false), gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := Config{Listen: "127.0.0.1:0", Issuer: a.Issuer(), Routes: []Route{{Prefix: "/a/", Upstream: up.URL}}}
	g := startGatewayOpts(t, cfg, Options{ReloadWindow: time.Minute})
	g.waitReady(t)
	next := cfg
	next.Providers = []Provider{{Issuer: b.Issuer() + "/"}}
	err := g.Reload(context.Background(), next)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "issuer mismatch") {
		t.Fatalf("reload: %v, want ErrInvalidConfig for the issuer mismatch", err)
	}
	if resp, body := g.get(t, "/a/x", a.Mint(t, jwtgatetest.Claims{Subject: "u"})); resp.StatusCode != http.StatusOK {
		t.Fatalf("running config after the refused reload: %d %s", resp.StatusCode, body)
	}
}
