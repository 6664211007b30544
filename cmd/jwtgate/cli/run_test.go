package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestBadFlagsExitTwoBeforeListening(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"-upstream", "http://127.0.0.1:9"}, "need -issuer"},
		{[]string{"-issuer", "https://idp.example", "-upstream", "ftp://x"}, "want an absolute http(s) URL"},
		{[]string{"-config", "/nonexistent.yaml"}, "no such file"},
		// The cache refuses plain http to a non-loopback provider.
		{[]string{"-jwks-url", "http://idp.example/jwks", "-upstream", "http://127.0.0.1:9"}, "key cache"},
	}
	for _, c := range cases {
		var stdout, stderr gwtest.SyncBuffer
		code := Run(context.Background(), c.args, Env{Stdout: &stdout, Stderr: &stderr, Options: gateway.Options{Logger: quiet}})
		if code != ExitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %s", c.args, code, ExitUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: stderr %q lacks %q", c.args, stderr.String(), c.want)
		}
		if stdout.String() != "" {
			t.Errorf("%q: printed %q: it got as far as listening", c.args, stdout.String())
		}
	}
	if code := Run(context.Background(), []string{"-h"}, Env{Stdout: io.Discard, Stderr: io.Discard}); code != ExitOK {
		t.Errorf("-h: exit %d", code)
	}
}

var (
	curlLine = regexp.MustCompile(`(?m)^curl (-N )?-H "Authorization: Bearer ([A-Za-z0-9_.-]+)" (http://\S+)$`)
	mintLine = regexp.MustCompile(`(?m)^More tokens, as JSON \(the access_token field\):  curl '(http://[^']+/token\?[^']+)'$`)
)

func TestListeningLine(t *testing.T) {
	for n, want := range map[int]string{
		1: "jwtgate gateway listening on http://gw (1 route; /healthz /readyz /metrics)\n",
		2: "jwtgate gateway listening on http://gw (2 routes; /healthz /readyz /metrics)\n",
	} {
		if got := listeningLine("http://gw", n); got != want {
			t.Errorf("%d routes: %q, want %q", n, got, want)
		}
	}
}

func TestDemoBanner(t *testing.T) {
	out := demoBanner(demoInfo{
		issuer: "http://idp", jwksURL: "http://idp/jwks", upstream: "http://up", gateway: "http://gw",
		rotate: 5 * time.Minute, ttl: 30 * time.Minute, token: "aaa.bbb.ccc", otherToken: "ddd.eee.fff",
	})
	lines := curlLine.FindAllStringSubmatch(out, -1)
	want := [][2]string{{"aaa.bbb.ccc", "http://gw/api/hello"}, {"aaa.bbb.ccc", "http://gw/llm/stream"}, {"ddd.eee.fff", "http://gw/api/hello"}}
	if len(lines) != len(want) {
		t.Fatalf("want %d ready curl lines in:\n%s", len(want), out)
	}
	for i, w := range want {
		if lines[i][2] != w[0] || lines[i][3] != w[1] {
			t.Errorf("curl line %d: token %q URL %q, want %q %q", i, lines[i][2], lines[i][3], w[0], w[1])
		}
	}
	if m := mintLine.FindStringSubmatch(out); m == nil || m[1] != "http://idp/token?sub=bob&scope=demo:read" {
		t.Errorf("minting line %q in:\n%s", m, out)
	}
	if !strings.Contains(out, "curl -i http://gw/api/hello\n") {
		t.Errorf("no line without a token in:\n%s", out)
	}
}

// The demo's printed curl lines must work as printed, also with the flags
// that shape the demo.
func TestDemoModePrintsWorkingCurlLines(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "127.0.0.1:0"},
		{"-listen", "127.0.0.1:0", "-audience", "mine", "-rate", "1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) { demoCurlLinesWork(t, args) })
	}
}

func demoCurlLinesWork(t *testing.T, args []string) {
	var stdout gwtest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, args, Env{
			Stdout: &stdout, Stderr: io.Discard, Options: gateway.Options{Logger: quiet},
			OnServe: func(ServeEvent) { close(served) },
		})
	}()
	select {
	case <-served:
	case code := <-done:
		t.Fatalf("Run exited %d before serving", code)
	}
	out := stdout.String()
	lines := curlLine.FindAllStringSubmatch(out, -1)
	mint := mintLine.FindStringSubmatch(out)
	if len(lines) != 3 || mint == nil {
		cancel()
		<-done
		t.Fatalf("want three curl lines with a token and one minting one in:\n%s", out)
	}
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	// The minting line's token must pass too, with -audience as given.
	resp, err := client.Get(mint[1])
	if err != nil {
		t.Fatal(err)
	}
	var minted struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()
	if err != nil || minted.AccessToken == "" {
		t.Fatalf("%s: %v %+v", mint[1], err, minted)
	}
	gwURL := strings.TrimSuffix(lines[0][3], "/api/hello")
	lines = append(lines, []string{"", "", minted.AccessToken, gwURL + "/api/hello"})
	for _, l := range lines {
		req, _ := http.NewRequest(http.MethodGet, l[3], nil)
		req.Header.Set("Authorization", "Bearer "+l[2])
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d: %s", l[3], resp.StatusCode, body)
		}
		if l[1] != "" && !strings.Contains(string(body), "[DONE]") {
			t.Errorf("stream did not complete: %s", body)
		}
	}
	tr.CloseIdleConnections()
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d", code)
	}
}

// slowRequestSurvivesShutdown starts the gateway through run, sends a slow
// request, triggers shutdown with stop once the upstream holds the request,
// and checks that the request still completes and the program exits 0.
func slowRequestSurvivesShutdown(t *testing.T, run func(args []string, env Env) int, stop func()) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfgFile := gwtest.WriteConfig(t, "listen: 127.0.0.1:0\nissuer: "+p.Issuer()+"\nroutes:\n  - {prefix: /, upstream: '"+up.URL+"'}\n")
	urlc := make(chan string, 1)
	done := make(chan int, 1)
	loaded := make(chan struct{})
	var once sync.Once
	shutdownBegan := make(chan struct{})
	deps := gateway.Options{Logger: quiet, OnShutdown: func(gateway.ShutdownEvent) { close(shutdownBegan) }, Cache: func(c *cache.Config) {
		c.Observer.OnRefresh = gwtest.Chain(c.Observer.OnRefresh, func(e cache.RefreshEvent) {
			if e.Keys > 0 {
				once.Do(func() { close(loaded) })
			}
		})
	}}
	go func() {
		done <- run([]string{"-config", cfgFile}, Env{
			Stdout: io.Discard, Stderr: io.Discard, Options: deps,
			OnServe: func(e ServeEvent) { urlc <- e.URL },
		})
	}()
	var gwURL string
	select {
	case gwURL = <-urlc:
	case code := <-done:
		t.Fatalf("exited %d before serving", code)
	}
	<-loaded
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, gwURL+"/slow", nil)
	req.Header.Set("Authorization", "Bearer "+p.Mint(t, jwtgatetest.Claims{Subject: "s", Audience: "x"}))
	type result struct {
		status int
		body   string
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{resp.StatusCode, string(b), err}
	}()
	select {
	case <-up.Started: // the request is in flight at the upstream
	case r := <-resc:
		t.Fatalf("request never reached the upstream: %+v", r)
	}
	stop()
	<-shutdownBegan // the listener is closed now
	if conn, err := net.Dial("tcp", strings.TrimPrefix(gwURL, "http://")); err == nil {
		conn.Close()
		t.Error("the gateway still accepts connections during shutdown")
	}
	// The program must wait for the in-flight request, not exit under it.
	select {
	case code := <-done:
		t.Fatalf("exited %d with a request in flight", code)
	case r := <-resc:
		t.Fatalf("request ended before the upstream answered: %+v", r)
	default:
	}
	close(up.Release)
	r := <-resc
	if r.err != nil || r.status != http.StatusOK || r.body != "done" {
		t.Fatalf("slow request: %+v", r)
	}
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d", code)
	}
}

func TestShutdownLetsSlowRequestFinish(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slowRequestSurvivesShutdown(t, func(args []string, env Env) int { return Run(ctx, args, env) }, cancel)
}

func TestSIGTERMLetsSlowRequestFinish(t *testing.T) {
	slowRequestSurvivesShutdown(t, mainEnv, func() {
		// mainEnv has SIGTERM routed to its context while it runs, so this
		// does not kill the test process.
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	})
}
