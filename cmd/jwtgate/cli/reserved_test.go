package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/demo"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// In flag mode no claim header is configured unless -claim-header says so,
// and yet no client-sent X-Jwtgate-* may reach the upstream: upstreams take
// them as the gateway's word.
func TestFlagModeStripsReservedHeaders(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read", "write"}})
	t.Run("no claim headers", func(t *testing.T) {
		g := runGateway(t, "-listen", "127.0.0.1:0", "-issuer", p.Issuer(), "-upstream", up.URL)
		status, body := g.get(t, "/x", tok, gwtest.Spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		gwtest.CheckNoSpoof(t, gwtest.UpstreamHeaders(t, body), gateway.ReservedHeaderPrefix, nil)
	})
	t.Run("-claim-header", func(t *testing.T) {
		g := runGateway(t, "-listen", "127.0.0.1:0", "-issuer", p.Issuer(), "-upstream", up.URL,
			"-claim-header", "sub=X-Jwtgate-Subject", "-claim-header", "scope=X-Jwtgate-Scope")
		status, body := g.get(t, "/x", tok, gwtest.Spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		gwtest.CheckNoSpoof(t, gwtest.UpstreamHeaders(t, body), gateway.ReservedHeaderPrefix, map[string]string{"X-Jwtgate-Subject": "alice", "X-Jwtgate-Scope": "read write"})
		// A token without scope: the header is absent, not the client's.
		status, body = g.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "bob"}), gwtest.Spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		gwtest.CheckNoSpoof(t, gwtest.UpstreamHeaders(t, body), gateway.ReservedHeaderPrefix, map[string]string{"X-Jwtgate-Subject": "bob"})
	})
}

// The demo's routes forward X-Jwtgate-Subject and -Scope; a header under
// the prefix that they don't set must not pass either.
func TestDemoModeStripsReservedHeaders(t *testing.T) {
	var stdout gwtest.SyncBuffer
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
			Stdout: &stdout, Stderr: io.Discard, Options: gateway.Options{Logger: quiet},
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
	status, body := r.get(t, "/api/hello", tok, gwtest.Spoofs...)
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
	gwtest.CheckNoSpoof(t, h, gateway.ReservedHeaderPrefix, map[string]string{"X-Jwtgate-Subject": "demo-user", "X-Jwtgate-Scope": demoScopes})
	tr.CloseIdleConnections()
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d", code)
	}
}
