package main

// The gateway scenario: jwtgate's gateway (built from this repository)
// beside a bare httputil.ReverseProxy and a hand-rolled golang-jwt +
// keyfunc proxy, each in a process of its own (this binary, re-executed
// with childEnv set, GOMAXPROCS=1), so that its CPU time can be read from
// /proc apart from the load generator's and the upstream's.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
	"github.com/jwtgate/jwtgate/benchmarks/internal/results"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/middleware"
)

// GatewayResult is one proxy × mix × round.
type GatewayResult = results.GatewayResult

// childEnv names the proxy a re-executed child serves; childUpstream and
// childJWKS are its upstream and JWK Set URLs.
const (
	childEnv      = "JWTGATE_SCENARIO_PROXY"
	childUpstream = "JWTGATE_SCENARIO_UPSTREAM"
	childJWKS     = "JWTGATE_SCENARIO_JWKS"
)

// gatewayProxies are the proxies measured, the floor first.
var gatewayProxies = []string{results.GatewayFloor, "bare_default", "gateway", "gateway_limited", "handrolled", "library_cold"}

// expressEnv names the folder of peers/express with its node_modules
// installed (benchmarks/run does it with npm); when set, the scenario also
// measures express + express-jwt + jwks-rsa. Unset (CI): the Go proxies
// only.
const expressEnv = "JWTGATE_BENCH_EXPRESS"

// proxiesToMeasure is gatewayProxies, and express when it is installed.
func proxiesToMeasure() []string {
	if dir := os.Getenv(expressEnv); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "express-jwt")); err == nil {
			return append(slices.Clone(gatewayProxies), "express")
		}
	}
	return gatewayProxies
}

// childMain serves the proxy childEnv names, if set, and exits; it returns
// false in the parent.
func childMain() bool {
	kind := os.Getenv(childEnv)
	if kind == "" {
		return false
	}
	if err := runChild(kind, os.Getenv(childUpstream), os.Getenv(childJWKS)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// tunedTransport is what a keep-alive-aware hand-written proxy would use:
// enough idle connections per host for the load's concurrency.
func tunedTransport() *http.Transport {
	return &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true}
}

// runChild listens on loopback, prints "LISTEN addr" and serves until its
// stdin closes (the parent's end of the pipe: the child never outlives it).
func runChild(kind, upstream, jwks string) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	proxy := func(tr http.RoundTripper) *httputil.ReverseProxy {
		return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: tr}
	}
	var h http.Handler
	switch kind {
	case "bare_tuned":
		h = proxy(tunedTransport())
	case "bare_default":
		h = proxy(http.DefaultTransport)
	case "handrolled":
		k, err := keyfunc.NewDefaultCtx(ctx, []string{jwks})
		if err != nil {
			return err
		}
		p := jwt.NewParser(jwt.WithValidMethods([]string{"ES256", "RS256", "EdDSA"}), jwt.WithIssuer(fixture.Issuer),
			jwt.WithAudience(fixture.Audience), jwt.WithExpirationRequired())
		rp := proxy(tunedTransport())
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			if _, err := p.ParseWithClaims(tok, &jwt.RegisteredClaims{}, k.Keyfunc); err != nil {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			rp.ServeHTTP(w, r)
		})
	case "library_cold":
		// The floor plus the library's own cold path, in the same
		// conditions (one CPU, this process): jwtgate's Verifier with no
		// verified-token cache in front of the tuned bare proxy, so the
		// gateway's never-repeated figure can be held against
		// floor + 1.05 × this minus the floor.
		keys, err := cache.New(ctx, cache.Config{URL: jwks, AllowInsecureHTTP: true, WaitForFirstLoad: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		defer keys.Close()
		v, err := middleware.New(middleware.Config{Keys: keys, Issuers: []string{fixture.Issuer}, Audiences: []string{fixture.Audience},
			TokenCacheSize: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		h = v.Handler(proxy(tunedTransport()))
	case "gateway", "gateway_limited":
		cfg := gateway.Config{
			JWKSURL: jwks, Issuer: fixture.Issuer, Audiences: []string{fixture.Audience},
			Routes: []gateway.Route{{Prefix: "/", Upstream: upstream}},
		}
		if kind == "gateway_limited" {
			// A per-subject limit high enough never to limit: what the
			// limiter, its headers and its metrics cost a request.
			cfg.Rate, cfg.Burst = 1e9, 1e9
		}
		g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		defer g.Close()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		err = g.WaitReady(wctx)
		wcancel()
		if err != nil {
			return err
		}
		if os.Getenv(childCounted) != "" {
			// Counted: behind the same plain server as the other
			// proxies, so that only the handlers differ.
			h = g.Handler()
			break
		}
		fmt.Printf("LISTEN %s\n", ln.Addr())
		return g.Serve(ctx, ln)
	default:
		return fmt.Errorf("unknown proxy %q", kind)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("LISTEN %s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// child is a running proxy process.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
	done  chan error
	grace time.Duration // how long stop waits before killing
}

func startChild(kind, upstream, jwks string) (*child, error) {
	return startChildUnder(nil, nil, kind, upstream, jwks)
}

// startChildUnder is startChild with the child run by the command wrap
// (valgrind and its arguments; nil: none) and env added to its environment.
func startChildUnder(wrap, env []string, kind, upstream, jwks string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	if len(wrap) > 0 {
		cmd = exec.Command(wrap[0], append(wrap[1:], self)...)
	}
	cmd.Env = append(os.Environ(), childEnv+"="+kind, childUpstream+"="+upstream, childJWKS+"="+jwks, "GOMAXPROCS=1")
	cmd.Env = append(cmd.Env, env...)
	if kind == "express" {
		// A Node process: one JavaScript thread, as the Go children have
		// one CPU.
		cmd = exec.Command("node", filepath.Join(os.Getenv(expressEnv), "server.js"))
		cmd.Env = append(os.Environ(), "UPSTREAM="+upstream, "JWKS="+jwks, "ISSUER="+fixture.Issuer, "AUDIENCE="+fixture.Audience)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan error, 1), grace: 10 * time.Second}
	if len(wrap) > 0 {
		c.grace = 2 * time.Minute // valgrind writes its counts as the child exits
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTEN ")
	if err != nil || !ok {
		c.stop()
		return nil, fmt.Errorf("%s: no address from the child (%q, %v)", kind, line, err)
	}
	c.addr = addr
	go func() { c.done <- cmd.Wait() }()
	return c, nil
}

// stop closes the child's stdin (it shuts down) and waits for it, killing
// it after its grace period.
func (c *child) stop() {
	c.stdin.Close()
	if c.done == nil || c.addr == "" {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		return
	}
	select {
	case <-c.done:
	case <-time.After(c.grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// cpu is the child's user+system CPU time so far, from /proc (Linux).
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces): state is the
	// 3rd field of the line, utime the 14th and stime the 15th.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat: %q", b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const hz = 100 // USER_HZ: 100 on every Linux the kernel ABI allows
	return time.Duration(ut+st) * time.Second / hz, nil
}

// peakRSS is the child's VmHWM in MiB.
func (c *child) peakRSS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// countingUpstream answers "ok" and counts the connections it accepts.
type countingUpstream struct {
	srv   *http.Server
	ln    net.Listener
	conns atomic.Int64
	done  chan struct{}
}

func startCountingUpstream() (*countingUpstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &countingUpstream{ln: ln, done: make(chan struct{})}
	u.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) }),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				u.conns.Add(1)
			}
		},
	}
	go func() {
		defer close(u.done)
		_ = u.srv.Serve(ln)
	}()
	return u, nil
}

func (u *countingUpstream) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = u.srv.Shutdown(ctx)
	<-u.done
}

// getOnce sends one GET with token and reports whether it was answered 200.
func getOnce(client *http.Client, url, token string) (bool, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// driveCount sends total requests with conc keep-alive workers, request i
// carrying tokens[i % len(tokens)], and returns the non-200 count and the
// elapsed time.
func driveCount(client *http.Client, url string, tokens []string, conc, total int) (int, time.Duration, error) {
	var next, bad atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				ok, err := getOnce(client, url, tokens[i%int64(len(tokens))])
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if !ok {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return int(bad.Load()), time.Since(start), nil
}

// runGateway measures every proxy on repeated and never-repeated ES256
// tokens, rounds times, each cell in a fresh child process.
func runGateway(_ context.Context, fx *fixture.Fixture, s settings) ([]GatewayResult, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("the gateway scenario reads the proxy's CPU time from /proc (Linux only)")
	}
	up, err := startCountingUpstream()
	if err != nil {
		return nil, err
	}
	defer up.Close()
	upURL := "http://" + up.ln.Addr().String()
	// One token per measured request: the never-repeated mix never shows
	// a proxy a token twice.
	fresh := make([]string, s.gwRequests)
	now := time.Now()
	for i := range fresh {
		c := fixture.ValidClaims(now)
		c.ID = strconv.Itoa(i)
		if fresh[i], err = fx.Sign(fixture.ES256, fx.KIDs[fixture.ES256], c); err != nil {
			return nil, err
		}
	}
	repeated := []string{fx.Tokens[fixture.ES256]}
	var out []GatewayResult
	for round := 1; round <= s.gwRounds; round++ {
		for _, mix := range []string{"repeated", "never-repeated"} {
			for _, proxy := range proxiesToMeasure() {
				toks := repeated
				if mix == "never-repeated" {
					toks = fresh
				}
				r, err := measureProxy(proxy, upURL, fx.Server.URL("gateway-"+proxy), up, repeated, toks, s)
				if err != nil {
					return nil, fmt.Errorf("%s/%s: %w", proxy, mix, err)
				}
				r.Mix, r.Round = mix, round
				log.Printf("gateway %-12s %-14s round %d: %6.1f µs CPU/request %8.0f req/s %.4f new upstream conns/request peak RSS %.0f MiB errors %d",
					proxy, mix, round, r.CPUusPerReq, r.RPS, r.UpstreamConnsPerReq, r.PeakRSSMiB, r.Errors)
				out = append(out, r)
			}
		}
	}
	log.Printf("gateway scenario:\n%s", results.GatewayTable(out))
	return out, nil
}

func measureProxy(proxy, upURL, jwks string, up *countingUpstream, warmToks, toks []string, s settings) (GatewayResult, error) {
	c, err := startChild(proxy, upURL, jwks)
	if err != nil {
		return GatewayResult{}, err
	}
	defer c.stop()
	tr := &http.Transport{MaxIdleConnsPerHost: s.gwConc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + c.addr + "/"
	// Warm up on the repeated token (connections, key set, caches),
	// until the proxy answers 200; the measured requests follow.
	deadline := time.Now().Add(10 * time.Second)
	for {
		bad, _, err := driveCount(client, url, warmToks, s.gwConc, 10*s.gwConc)
		if err == nil && bad == 0 {
			break
		}
		if time.Now().After(deadline) {
			return GatewayResult{}, fmt.Errorf("not answering 200 after warm-up (%d bad, %v)", bad, err)
		}
	}
	cpu0, err := c.cpu()
	if err != nil {
		return GatewayResult{}, err
	}
	conns0 := up.conns.Load()
	bad, elapsed, err := driveCount(client, url, toks, s.gwConc, s.gwRequests)
	if err != nil {
		return GatewayResult{}, err
	}
	cpu1, err := c.cpu()
	if err != nil {
		return GatewayResult{}, err
	}
	n := float64(s.gwRequests)
	res := GatewayResult{
		Proxy: proxy, Concurrency: s.gwConc, Requests: s.gwRequests, Errors: bad,
		CPUusPerReq:         float64(cpu1-cpu0) / float64(time.Microsecond) / n,
		RPS:                 n / elapsed.Seconds(),
		UpstreamConnsPerReq: float64(up.conns.Load()-conns0) / n,
		PeakRSSMiB:          c.peakRSS(),
		FixedRate:           gatewayFixedRate,
	}
	lat, badRate, err := driveRate(client, url, toks, gatewayFixedRate, max(s.gwRequests/4, 200))
	if err != nil {
		return GatewayResult{}, fmt.Errorf("fixed rate: %w", err)
	}
	res.Errors += badRate
	sorted := sortedCopy(lat)
	res.P50us, res.P99us = percentile(sorted, 0.50), percentile(sorted, 0.99)
	return res, nil
}

// gatewayFixedRate is the open-loop phase's rate: well under what every
// proxy serves (4,000+ req/s on one CPU here), so latencies show the
// per-request cost, not queueing.
const gatewayFixedRate = 1000

// driveRate sends total requests at rate per second, on schedule whatever
// the answers (open loop: a slow proxy builds a backlog that its
// latencies, measured from the scheduled time, then show), request i
// carrying tokens[i % len(tokens)]. It returns the latencies and the
// non-200 count.
func driveRate(client *http.Client, url string, tokens []string, rate, total int) ([]time.Duration, int, error) {
	lat := make([]time.Duration, total)
	var bad atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			// Pacing the load generator itself, not waiting for
			// behaviour under test.
			time.Sleep(d)
		}
		wg.Go(func() {
			ok, err := getOnce(client, url, tokens[i%len(tokens)])
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			if !ok {
				bad.Add(1)
			}
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, 0, err
	}
	return lat, int(bad.Load()), nil
}
