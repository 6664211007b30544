package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/demo"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// running is a gateway started through Run, the way the program starts it.
type running struct {
	url    string
	client *http.Client
	stderr *syncBuffer
}

// runGateway starts Run with args and returns once it serves and its key
// set is loaded; the test's cleanup stops it and expects exit 0.
func runGateway(t *testing.T, args ...string) *running {
	t.Helper()
	loaded := make(chan struct{})
	var once sync.Once
	r := startRun(t, Env{Options: Options{Cache: func(c *cache.Config) {
		c.Observer.OnRefresh = chain(c.Observer.OnRefresh, func(e cache.RefreshEvent) {
			if e.Keys > 0 {
				once.Do(func() { close(loaded) })
			}
		})
	}}}, args...)
	<-loaded
	return r
}

// startRun starts Run with args and env (Stdout, Stderr, Logger and OnServe
// are the test's) and returns once it serves; the test's cleanup stops it
// and expects exit 0.
func startRun(t *testing.T, env Env, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urlc := make(chan string, 1)
	done := make(chan int, 1)
	r := &running{stderr: &syncBuffer{}}
	env.Stdout, env.Stderr, env.Options.Logger = io.Discard, r.stderr, quiet
	env.OnServe = func(e ServeEvent) { urlc <- e.URL }
	go func() { done <- Run(ctx, args, env) }()
	select {
	case r.url = <-urlc:
	case code := <-done:
		cancel()
		t.Fatalf("Run(%q) exited %d before serving: %s", args, code, r.stderr.String())
	}
	tr := &http.Transport{}
	r.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("exit %d: %s", code, r.stderr.String())
		}
	})
	return r
}

// get sends a GET with the token and raw headers (names sent exactly as
// given, not canonicalized) and returns the status and body.
func (r *running) get(t *testing.T, path, token string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// spoofs are a client's attempts at the reserved headers: every spelling
// an upstream could read as X-Jwtgate-*, and a Connection header naming
// the real one (ReverseProxy then deletes by that name, after the
// Verifier).
var spoofs = []string{
	"X-Jwtgate-Subject", "spoof-canonical",
	"x-jwtgate-subject", "spoof-lower",
	"X-JWTGATE-SCOPE", "spoof-upper",
	"x_jwtgate_subject", "spoof-underscore",
	"X-Jwtgate_Scope", "spoof-mixed",
	"X-Jwtgate-Tenant", "spoof-unconfigured",
	"x_JWTGATE-role", "spoof-unconfigured-underscore",
	"Connection", "X-Jwtgate-Subject, x_jwtgate_scope",
}

// upstreamHeaders decodes the test upstream's echo.
func upstreamHeaders(t *testing.T, body string) http.Header {
	t.Helper()
	var got struct{ Headers http.Header }
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return got.Headers
}

// checkNoSpoof fails if the upstream saw any reserved header other than the
// ones in want, or any of those with another value.
func checkNoSpoof(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for name, vs := range h {
		if strings.Contains(strings.Join(vs, ","), "spoof") {
			t.Errorf("spoofed header reached the upstream: %s: %q", name, vs)
		}
		if isReserved(name) {
			if w, ok := want[name]; !ok || len(vs) != 1 || vs[0] != w {
				t.Errorf("upstream saw %s: %q, want %q", name, vs, w)
			}
		}
	}
	for name, w := range want {
		if h.Get(name) != w {
			t.Errorf("verified %s = %q at the upstream, want %q", name, h.Get(name), w)
		}
	}
}

func TestIsReserved(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Jwtgate-Subject": true, "x_jwtgate_subject": true, "X_JWTGATE_": true, "x-jwtgate-": true,
		"X-Jwtgate": false, "X-Jwtgatex-A": false, "X-User": false, "": false,
		"\rx-jwtgate-a": false, "X\rJwtgate-A": false, "Y-Jwtgate-A": false,
	} {
		if got := isReserved(name); got != want {
			t.Errorf("isReserved(%q) = %v", name, got)
		}
	}
}

// In flag mode no claim header is configured unless -claim-header says so,
// and yet no client-sent X-Jwtgate-* may reach the upstream: upstreams take
// them as the gateway's word.
func TestFlagModeStripsReservedHeaders(t *testing.T) {
	p, up := startIDP(t, false), startUpstream(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read", "write"}})
	t.Run("no claim headers", func(t *testing.T) {
		g := runGateway(t, "-listen", "127.0.0.1:0", "-issuer", p.Issuer(), "-upstream", up.srv.URL)
		status, body := g.get(t, "/x", tok, spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		checkNoSpoof(t, upstreamHeaders(t, body), nil)
	})
	t.Run("-claim-header", func(t *testing.T) {
		g := runGateway(t, "-listen", "127.0.0.1:0", "-issuer", p.Issuer(), "-upstream", up.srv.URL,
			"-claim-header", "sub=X-Jwtgate-Subject", "-claim-header", "scope=X-Jwtgate-Scope")
		status, body := g.get(t, "/x", tok, spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		checkNoSpoof(t, upstreamHeaders(t, body), map[string]string{"X-Jwtgate-Subject": "alice", "X-Jwtgate-Scope": "read write"})
		// A token without scope: the header is absent, not the client's.
		status, body = g.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "bob"}), spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		checkNoSpoof(t, upstreamHeaders(t, body), map[string]string{"X-Jwtgate-Subject": "bob"})
	})
}

func TestYAMLModeStripsReservedHeaders(t *testing.T) {
	p, up := startIDP(t, false), startUpstream(t)
	cfg := writeFile(t, "listen: 127.0.0.1:0\nissuer: "+p.Issuer()+"\nroutes:\n"+
		"  - {prefix: /claims/, upstream: '"+up.srv.URL+"', claim_headers: {sub: X-Jwtgate-Subject, scope: X-User-Scope}}\n"+
		"  - {prefix: /, upstream: '"+up.srv.URL+"'}\n")
	g := runGateway(t, "-config", cfg)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}})
	for path, want := range map[string]map[string]string{
		"/claims/x": {"X-Jwtgate-Subject": "alice"},
		"/plain":    nil,
	} {
		status, body := g.get(t, path, tok, spoofs...)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, status, body)
		}
		h := upstreamHeaders(t, body)
		checkNoSpoof(t, h, want)
		if path == "/claims/x" && h.Get("X-User-Scope") != "read" {
			t.Errorf("claim header outside the prefix: X-User-Scope = %q", h.Get("X-User-Scope"))
		}
	}
}

// The demo's routes forward X-Jwtgate-Subject and -Scope; a header under
// the prefix that they don't set must not pass either.
func TestDemoModeStripsReservedHeaders(t *testing.T) {
	var stdout syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type served struct {
		url string
		p   *demo.Provider
	}
	sc := make(chan served, 1)
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-listen", "127.0.0.1:0"}, Env{
			Stdout: &stdout, Stderr: io.Discard, Options: Options{Logger: quiet},
			OnServe: func(e ServeEvent) { sc <- served{e.URL, e.demo} },
		})
	}()
	var s served
	select {
	case s = <-sc:
	case code := <-done:
		t.Fatalf("Run exited %d before serving", code)
	}
	tok, err := s.p.Mint(demo.Token{Subject: "demo-user", Audience: []string{demoAudience}, Scope: demoScopes})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	r := &running{url: s.url, client: &http.Client{Transport: tr}}
	status, body := r.get(t, "/api/hello", tok, spoofs...)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var echo struct{ Headers map[string]string }
	if err := json.Unmarshal([]byte(body), &echo); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, v := range echo.Headers {
		h.Set(k, v)
	}
	checkNoSpoof(t, h, map[string]string{"X-Jwtgate-Subject": "demo-user", "X-Jwtgate-Scope": demoScopes})
	tr.CloseIdleConnections()
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d", code)
	}
}
