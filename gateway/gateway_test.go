package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestRatePeriod(t *testing.T) {
	for _, c := range []struct {
		in     float64
		n      int
		period time.Duration
	}{
		{5, 5, time.Second}, {1, 1, time.Second}, {0.5, 1, 2 * time.Second},
		{2.5, 1, 400 * time.Millisecond}, {0.001, 1, 1000 * time.Second},
	} {
		n, p := ratePeriod(c.in)
		if n != c.n || p != c.period {
			t.Errorf("ratePeriod(%v) = %d/%v, want %d/%v", c.in, n, p, c.n, c.period)
		}
		// Whatever the split, the rate must be the one asked for.
		if got := float64(n) / p.Seconds(); got < c.in*0.999 || got > c.in*1.001 {
			t.Errorf("ratePeriod(%v) means %v/s", c.in, got)
		}
	}
}

func TestStripPrefix(t *testing.T) {
	for _, c := range []struct{ prefix, in, want string }{
		{"/api", "/api/x", "/x"}, {"/api/", "/api/x/y", "/x/y"}, {"/api", "/api", "/"},
		{"/", "/x", "/x"}, {"/a", "/a/b%2Fc", "/b%2Fc"},
	} {
		u, err := url.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		stripPrefix(u, c.prefix)
		if got := u.EscapedPath(); got != c.want {
			t.Errorf("strip %q from %q = %q, want %q", c.prefix, c.in, got, c.want)
		}
	}
}

func TestPrefixMatches(t *testing.T) {
	for _, c := range []struct {
		prefix, path string
		want         bool
	}{
		{"/api", "/api", true}, {"/api", "/api/x", true}, {"/api", "/apiary", false},
		{"/api/", "/api/x", true}, {"/api/", "/api", false}, {"/", "/anything", true},
	} {
		if got := prefixMatches(c.prefix, c.path); got != c.want {
			t.Errorf("prefixMatches(%q, %q) = %v", c.prefix, c.path, got)
		}
	}
}

// An unclean path must never reach an upstream under the route its raw
// prefix names.
func TestUncleanPathNeverProxied(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	hit := make(chan string, 10)
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit <- r.URL.Path }))
	defer spy.Close()
	cfg := testConfig(p.Issuer(), up.URL)
	cfg.Routes = append(cfg.Routes, Route{Prefix: "/public/", Upstream: spy.URL})
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "a"})
	for _, path := range []string{"/public/../admin", "/public/./x/../../admin", "//public/x"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://gw"+path, nil)
		req.URL.Path = path // keep it unclean
		req.Header.Set("Authorization", "Bearer "+tok)
		g.Handler().ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			t.Errorf("%s: 200", path)
		}
	}
	// And g.proxy itself, behind any router that does not clean paths.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://gw/x", nil)
	req.URL.Path = "/public/../admin"
	req.Header.Set("Authorization", "Bearer "+tok)
	g.cur.Load().proxy(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("proxy: %d, want 400", rec.Code)
	}
	select {
	case path := <-hit:
		t.Fatalf("the public upstream got %q", path)
	default:
	}
}

// One path rule for every mode (issue 19, item 10): a proxy route refuses
// with 400 invalid_request what decision mode and ext_authz refuse
// (internal/routepath), and any path whose clean form is not the path
// itself. "/public/..%5Cadmin" was proxied under /public's rules, and IIS
// reads it as /admin.
func TestBackslashAndAmbiguousPathsNeverProxied(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	hit := make(chan string, 100)
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit <- r.URL.RawPath + " " + r.URL.Path }))
	defer spy.Close()
	cfg := testConfig(p.Issuer(), up.URL)
	cfg.Routes = append([]Route{{Prefix: "/public/", Upstream: spy.URL}}, cfg.Routes...)
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "a", Audience: "api"})
	paths := []string{
		"/public/..%5Cadmin", "/public/..%5cadmin", "/public/%5C..%5Cadmin", "/public%5C..%5Cadmin",
		`/public/..\admin`, `/public\..\admin`, `/public/a\b`, "/public/a%5Cb",
		"/public/..%2Fadmin",  // /admin decoded, /public literally: ambiguous
		"/public/x%2F..%2F..", // likewise
		"/public/a%00b",
		"/public/../admin", "/public/%2e%2e/admin", "//public/x",
	}
	for _, path := range paths {
		// In process, the path exactly as sent (a raw backslash too).
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		g.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
			t.Errorf("%s: %d %s, want 400 invalid_request", path, rec.Code, rec.Body)
		}
		// And over a socket.
		if status, body := rawGet(t, strings.TrimPrefix(g.url, "http://"), path, "Authorization", "Bearer "+tok); status != http.StatusBadRequest {
			t.Errorf("%s over a socket: %d %s, want 400", path, status, body)
		}
	}
	select {
	case got := <-hit:
		t.Fatalf("the /public upstream got %q", got)
	default:
	}
	// Clean paths, encoded or not, still pass.
	for _, path := range []string{"/public/x", "/public/a%20b", "/public/caf%C3%A9", "/public/a%2Fb"} {
		if status, body := rawGet(t, strings.TrimPrefix(g.url, "http://"), path, "Authorization", "Bearer "+tok); status != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", path, status, body)
		}
		<-hit
	}
}

// rawGet sends "GET target HTTP/1.1" to addr with target exactly as given
// (a Go client would escape a backslash or a raw UTF-8 byte) and the
// headers, and returns the answer's status and body.
func rawGet(t *testing.T, addr, target string, hdr ...string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		b.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestUpstreamDownIs502(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(), Routes: []Route{{Prefix: "/", Upstream: deadURL}}}, nil)
	g.waitReady(t)
	resp, body := g.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "a"}))
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, _ := g.get(t, "/nowhere", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("catch-all without token: %d", resp.StatusCode)
	}
}

// FuzzRouting checks, for any request path, that a request reaches a route
// only when the path is clean and under that route's prefix on a segment
// boundary, and that no longer prefix would have matched.
func FuzzRouting(f *testing.F) {
	for _, s := range []string{"/", "/api", "/api/", "/api/x", "/apiary", "/api/../admin", "//api", "/admin/./x", "/a%2F..", "/llm/v1/chat", ""} {
		f.Add(s)
	}
	prefixes := []string{"/llm/v1", "/api/", "/admin", "/"}
	g := &generation{}
	var got string
	for _, p := range prefixes { // already longest first
		g.routes = append(g.routes, &route{Route: Route{Prefix: p}, handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got = p })})
	}
	f.Fuzz(func(t *testing.T, path string) {
		got = ""
		req := httptest.NewRequest(http.MethodGet, "http://gw/", nil)
		req.URL.Path = path
		rec := httptest.NewRecorder()
		g.proxy(rec, req)
		if got == "" {
			if rec.Code == http.StatusOK {
				t.Fatalf("%q: 200 without a route", path)
			}
			return
		}
		if cleanPath(path) != path || !prefixMatches(got, path) {
			t.Fatalf("%q reached route %q", path, got)
		}
		for _, p := range prefixes {
			if len(p) > len(got) && prefixMatches(p, path) {
				t.Fatalf("%q reached %q, but the longer %q matches", path, got, p)
			}
		}
	})
}

// Every route derives from one Verifier: a token used on two routes is
// verified (and cached) once, and each route still checks its own
// audiences after the cache.
func TestOneVerifierForAllRoutes(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(), Routes: []Route{
		{Prefix: "/a/", Upstream: up.URL, Audiences: []string{"aud-a"}},
		{Prefix: "/b/", Upstream: up.URL, Audiences: []string{"aud-b"}},
	}}, nil)
	g.waitReady(t)
	both := p.Mint(t, jwtgatetest.Claims{Subject: "u", Audiences: []string{"aud-a", "aud-b"}})
	for _, path := range []string{"/a/x", "/b/x", "/a/y"} {
		if resp, body := g.get(t, path, both); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	if n := g.cur.Load().verifier.TokenCacheLen(); n != 1 {
		t.Fatalf("%d verified-token cache entries after one token on two routes, want 1", n)
	}
	onlyA := p.Mint(t, jwtgatetest.Claims{Subject: "u", Audience: "aud-a"})
	if resp, body := g.get(t, "/a/x", onlyA); resp.StatusCode != http.StatusOK {
		t.Fatalf("route A, token for A: %d %s", resp.StatusCode, body)
	}
	resp, body := g.get(t, "/b/x", onlyA)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "audience not accepted") ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("route B, token for A: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	// The base Verifier checks the union: a token for neither route is
	// refused before any route's narrowing.
	if resp, body := g.get(t, "/a/x", p.Mint(t, jwtgatetest.Claims{Subject: "u", Audience: "other"})); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token for another audience: %d %s", resp.StatusCode, body)
	}
	if got := g.cur.Load().verifier.TokenCacheLen(); got != 2 {
		t.Errorf("%d cache entries, want 2 (the token the base refused is not cached)", got)
	}
}

// The base Verifier's audiences: the union when every route has some, none
// as soon as one route accepts any audience.
func TestBaseVerifierAudiences(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(), Routes: []Route{
		{Prefix: "/a/", Upstream: up.URL, Audiences: []string{"aud-a"}},
		{Prefix: "/", Upstream: up.URL},
	}}, nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "u", Audience: "anything"})
	if resp, body := g.get(t, "/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("route without audiences: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.get(t, "/a/x", tok); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "audience not accepted") {
		t.Fatalf("route with audiences: %d %s", resp.StatusCode, body)
	}
}

// Close is idempotent and safe to call concurrently; every call reports
// the first one's result.
func TestCloseTwiceConcurrently(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g, err := New(t.Context(), Config{Issuer: p.Issuer(), Routes: []Route{{Prefix: "/", Upstream: "http://127.0.0.1:9"}}}, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- g.Close() }()
	}
	if a, b := <-errs, <-errs; a != nil || b != nil {
		t.Fatalf("Close: %v, %v", a, b)
	}
}

// A bad config is an error from New, never a panic, and nothing is left
// running.
func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Issuer: "https://idp"}, {Issuer: "idp", Routes: []Route{{Prefix: "/", Upstream: "http://u"}}}} {
		if g, err := New(t.Context(), cfg, Options{Logger: quiet}); !errors.Is(err, ErrInvalidConfig) || g != nil {
			t.Errorf("New(%+v) = %v, %v; want ErrInvalidConfig", cfg, g, err)
		}
	}
}
