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
	p := startIDP(t, false)
	jwks := countJWKS(t, p)
	end := make(chan struct{}) // closed: the long streams send their last event
	up := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
			fmt.Fprintf(w, "ok %s", r.Header.Get("X-Config"))
		}
	}))

	// Two configs, alternated: the same routes with another claim header
	// (so every reload rebuilds them), and in b a route of its own; the
	// provider and /api/'s rate limit stay as they are.
	config := func(name string) Config {
		cfg := Config{
			Listen: "127.0.0.1:0", Issuer: p.Issuer(), JWKSURL: jwks.URL(), Audiences: []string{"api"},
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
	var gens sync.Map // every generation that served: each must be let go of
	g := startGatewayOpts(t, config("a"), Options{OnReload: func(e ReloadEvent) {}})
	g.waitReady(t)
	gens.Store(g.cur.Load(), true)
	ctr := &http.Transport{MaxIdleConnsPerHost: clients + streams}
	t.Cleanup(ctr.CloseIdleConnections)
	client := &http.Client{Transport: ctr}
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "load", Audience: "api", ExpiresAt: time.Now().Add(time.Hour)})

	var failed atomic.Int64
	var firstFailures sync.Map
	fail := func(format string, a ...any) {
		n := failed.Add(1)
		if n <= 5 {
			firstFailures.Store(n, fmt.Sprintf(format, a...))
		}
	}
	get := func(path string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, g.url+path, nil)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	// The long streams, open on the first config before any reload.
	var streamWG sync.WaitGroup
	var cut atomic.Int64
	opened := make(chan struct{}, streams)
	for i := range streams {
		streamWG.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/long/%d", g.url, i), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(req)
			if err != nil {
				cut.Add(1)
				opened <- struct{}{}
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			first, err := br.ReadString('\n')
			opened <- struct{}{}
			if err != nil || first != "data: open\n" {
				cut.Add(1)
				return
			}
			rest, err := io.ReadAll(br)
			if err != nil || !strings.Contains(string(rest), "data: end") {
				cut.Add(1)
			}
		})
	}
	for range streams {
		<-opened
	}

	stop := make(chan struct{})
	var clientWG sync.WaitGroup
	var requests atomic.Int64
	for c := range clients {
		clientWG.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				requests.Add(1)
				if (c+i)%4 == 0 {
					code, body, err := get("/sse/x")
					if err != nil || code != http.StatusOK || !strings.HasSuffix(body, "data: 2\n\ndata: end\n\n") {
						fail("stream: %d %v %q", code, err, body)
					}
					continue
				}
				code, body, err := get("/api/x")
				if err != nil || code != http.StatusOK || !strings.HasPrefix(body, "ok") {
					fail("request: %d %v %q", code, err, body)
				}
			}
		})
	}

	fetches := jwks.n.Load()
	tick := time.NewTicker(every)
	deadline := time.After(duration)
	reloaded := 0
loop:
	for {
		select {
		case <-deadline:
			break loop
		case <-tick.C:
		}
		name := "a"
		if reloaded%2 == 0 {
			name = "b"
		}
		if err := g.Reload(context.Background(), config(name)); err != nil {
			t.Errorf("reload %d: %v", reloaded, err)
		}
		gens.Store(g.cur.Load(), true)
		reloaded++
	}
	tick.Stop()
	close(stop)
	clientWG.Wait()
	close(end)
	streamWG.Wait()

	if n := failed.Load(); n > 0 {
		firstFailures.Range(func(_, v any) bool { t.Error(v); return true })
		t.Fatalf("%d of %d requests failed", n, requests.Load())
	}
	if n := cut.Load(); n > 0 {
		t.Fatalf("%d of %d long streams cut", n, streams)
	}
	if reloaded < 50 {
		t.Fatalf("only %d reloads in %v", reloaded, duration)
	}
	if ok := reloads(t, g, "ok"); int(ok) != reloaded {
		t.Fatalf("%v reloads counted ok, %d made", ok, reloaded)
	}
	if n := jwks.n.Load() - fetches; n != 0 {
		t.Fatalf("the unchanged provider's JWK Set fetched %d times during the reloads", n)
	}
	cur := g.cur.Load()
	gens.Range(func(k, _ any) bool {
		if gen := k.(*generation); gen != cur && gen.refs.Load() != 0 {
			t.Errorf("generation %d still held %d times after its last request", gen.id, gen.refs.Load())
		}
		return true
	})
	g.resMu.Lock()
	held := len(g.res.m)
	g.resMu.Unlock()
	if held != len(cur.held) {
		t.Fatalf("%d resources open, the running config holds %d: replaced configs' resources leak", held, len(cur.held))
	}
	t.Logf("%d requests, %d reloads, %d long streams: none failed", requests.Load(), reloaded, streams)
}

// httptestServer serves h on loopback until the test ends and returns its
// URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
