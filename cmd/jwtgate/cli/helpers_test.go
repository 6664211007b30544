package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// running is a gateway started through Run, the way the program starts it.
type running struct {
	url    string
	client *http.Client
	stderr *gwtest.SyncBuffer
}

// runGateway starts Run with args and returns once it serves and its key
// set is loaded; the test's cleanup stops it and expects exit 0.
func runGateway(t *testing.T, args ...string) *running {
	t.Helper()
	loaded := make(chan struct{})
	var once sync.Once
	r := startRun(t, Env{Options: gateway.Options{Cache: func(c *cache.Config) {
		c.Observer.OnRefresh = gwtest.Chain(c.Observer.OnRefresh, func(e cache.RefreshEvent) {
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
	r := &running{stderr: &gwtest.SyncBuffer{}}
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
	return gwtest.GetRaw(t, r.client, r.url+path, token, hdr...)
}
