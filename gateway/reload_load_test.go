package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The acceptance test: a reload every 100 ms for 10 s, under 32
// clients sending requests and short streams without pause and 8
// server-sent-event streams held open from before the first reload to
// after the last. Not one request fails, not one stream is cut, the
// unchanged provider's keys are never fetched again, every replaced config
// lets go of its resources, and no goroutine is left behind.
func TestReloadUnderLoadDropsNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after every other cleanup

	const (
		clients  = 32
		streams  = 8
		every    = 100 * time.Millisecond
		duration = 10 * time.Second
	)
	p := gwtest.StartIDP(t, false)
	jwks := countJWKS(t, p)
	end := make(chan struct{}) // closed: the long streams send their last event
	up := httptest.NewServer(loadUpstream(end))
	t.Cleanup(up.Close)
	config := func(name string) Config { return loadConfig(p.Issuer(), jwks.URL(), up.URL, name) }
	g := startGateway(t, config("a"), nil)
	g.waitReady(t)
	l := &load{g: g, tok: p.Mint(t, jwtgatetest.Claims{Subject: "load", Audience: "api", ExpiresAt: time.Now().Add(time.Hour)})}
	tr := &http.Transport{MaxIdleConnsPerHost: clients + streams}
	t.Cleanup(tr.CloseIdleConnections)
	l.client = &http.Client{Transport: tr}

	l.openStreams(streams)
	stop := make(chan struct{})
	l.startClients(clients, stop)

	fetches := jwks.n.Load()
	gens := []*generation{g.cur.Load()}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for deadline := time.After(duration); ; {
		select {
		case <-tick.C:
			name := [2]string{"b", "a"}[len(gens)%2]
			if err := g.Reload(context.Background(), config(name)); err != nil {
				t.Errorf("reload %d: %v", len(gens), err)
			}
			gens = append(gens, g.cur.Load())
			continue
		case <-deadline:
		}
		break
	}
	close(stop)
	l.clients.Wait()
	close(end)
	l.streams.Wait()

	l.check(t)
	reloaded := len(gens) - 1
	if ok := reloads(t, g, "ok"); reloaded < 40 || int(ok) != reloaded {
		t.Fatalf("%d reloads in %v, %v counted ok", reloaded, duration, ok)
	}
	if n := jwks.n.Load() - fetches; n != 0 {
		t.Fatalf("the unchanged provider's JWK Set fetched %d times during the reloads", n)
	}
	checkReleased(t, g.Gateway, gens)
	t.Logf("%d requests, %d reloads, %d long streams: none failed", l.requests.Load(), reloaded, streams)
}

// loadUpstream serves /long/ (an event, then another once end is closed),
// /sse/ (four events at once) and anything else ("ok").
func loadUpstream(end <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch {
		case strings.HasPrefix(r.URL.Path, "/long/"):
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: open\n\n")
			rc.Flush()
			select {
			case <-end:
				io.WriteString(w, "data: end\n\n")
			case <-r.Context().Done():
			}
		case strings.HasPrefix(r.URL.Path, "/sse/"):
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				rc.Flush()
			}
			io.WriteString(w, "data: end\n\n")
		default:
			io.WriteString(w, "ok")
		}
	})
}

// loadConfig is one of two configs the load test alternates: the same
// routes with another claim header (so every reload rebuilds them), and
// in b a route of its own; the provider and /api/'s rate limit stay.
func loadConfig(iss, jwks, up, name string) Config {
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: iss, JWKSURL: jwks, Audiences: []string{"api"},
		Routes: []Route{
			{Prefix: "/api/", Upstream: up, Rate: ptr(1e6), Burst: ptr(1_000_000), ClaimHeaders: map[string]string{"sub": "X-Sub-" + name}},
			{Prefix: "/sse/", Upstream: up},
			{Prefix: "/long/", Upstream: up},
		},
	}
	if name == "b" {
		cfg.Routes = append(cfg.Routes, Route{Prefix: "/b-only/", Upstream: up})
	}
	return cfg
}

// load is the load test's clients and what they saw.
type load struct {
	g        *gw
	tok      string
	client   *http.Client
	requests atomic.Int64
	failed   atomic.Int64
	cut      atomic.Int64
	mu       sync.Mutex
	first    []string // the first failures
	clients  sync.WaitGroup
	streams  sync.WaitGroup
}

func (l *load) fail(format string, a ...any) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.first) < 5 {
		l.first = append(l.first, fmt.Sprintf(format, a...))
	}
}

func (l *load) do(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, l.g.url+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.tok)
	return l.client.Do(req)
}

func (l *load) get(path string) (int, string, error) {
	resp, err := l.do(path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// openStreams opens n long streams and returns once each has its first
// event: they run on the first config until the end.
func (l *load) openStreams(n int) {
	opened := make(chan struct{}, n)
	for i := range n {
		l.streams.Go(func() {
			if !l.longStream(fmt.Sprintf("/long/%d", i), opened) {
				l.cut.Add(1)
			}
		})
	}
	for range n {
		<-opened
	}
}

// longStream reads a long stream to its end, and reports whether it got
// its first and its last event.
func (l *load) longStream(path string, opened chan<- struct{}) bool {
	resp, err := l.do(path)
	if err != nil {
		opened <- struct{}{}
		return false
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	opened <- struct{}{}
	if err != nil || first != "data: open\n" {
		return false
	}
	rest, err := io.ReadAll(br)
	return err == nil && strings.Contains(string(rest), "data: end")
}

// startClients starts n clients sending requests and short streams until
// stop is closed.
func (l *load) startClients(n int, stop <-chan struct{}) {
	for c := range n {
		l.clients.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				l.requests.Add(1)
				if (c+i)%4 == 0 {
					code, body, err := l.get("/sse/x")
					if err != nil || code != http.StatusOK || !strings.HasSuffix(body, "data: 2\n\ndata: end\n\n") {
						l.fail("stream: %d %v %q", code, err, body)
					}
					continue
				}
				if code, body, err := l.get("/api/x"); err != nil || code != http.StatusOK || body != "ok" {
					l.fail("request: %d %v %q", code, err, body)
				}
			}
		})
	}
}

func (l *load) check(t *testing.T) {
	t.Helper()
	if n := l.failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; the first: %q", n, l.requests.Load(), l.first)
	}
	if n := l.cut.Load(); n > 0 {
		t.Fatalf("%d long streams cut", n)
	}
}

// checkReleased checks that every generation but the current one has let
// go of everything: no request holds it, and the only resources open are
// the current generation's.
func checkReleased(t *testing.T, g *Gateway, gens []*generation) {
	t.Helper()
	cur := g.cur.Load()
	for _, gen := range gens {
		if gen != cur && gen.refs.Load() != 0 {
			t.Errorf("generation %d still held %d times after its last request", gen.id, gen.refs.Load())
		}
	}
	g.resMu.Lock()
	open := len(g.res.m)
	g.resMu.Unlock()
	if open != len(cur.held) {
		t.Fatalf("%d resources open, the running config holds %d: replaced configs' resources leak", open, len(cur.held))
	}
}
