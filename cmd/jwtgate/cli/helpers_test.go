package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/headername"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func chain[E any](a, b func(E)) func(E) {
	if a == nil {
		return b
	}
	return func(e E) { a(e); b(e) }
}

// startIDP starts an identity provider on loopback (the test kit's,
// signing with ES256 as the demo's does), down (503 for discovery and
// the JWK Set) if asked.
func startIDP(t testing.TB, down bool) *jwtgatetest.Issuer {
	t.Helper()
	i := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if down {
		b := jwtgatetest.Behavior{Status: http.StatusServiceUnavailable}
		if err := errors.Join(i.SetDiscovery(b), i.SetJWKS(b)); err != nil {
			t.Fatal(err)
		}
	}
	return i
}

// upstream is the service behind the gateway: /slow tells started, then
// waits for release; everything else echoes the request's headers as JSON.
type upstream struct {
	srv     *httptest.Server
	release chan struct{}
	started chan struct{}
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{release: make(chan struct{}), started: make(chan struct{}, 1)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			u.started <- struct{}{}
			select {
			case <-u.release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "done")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}))
	t.Cleanup(u.srv.Close)
	return u
}

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
	r := startRun(t, Env{Options: gateway.Options{Cache: func(c *cache.Config) {
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
// the real one.
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
		if headername.HasPrefix(name, gateway.ReservedHeaderPrefix) {
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
