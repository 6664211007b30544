package jwtgatetest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// With IssuerOptions.URL there is no server: the issuer answers under the
// given URL through Handler and its in-memory Client, and its discovery
// document carries the extra members.
func TestURLModeServesInMemory(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, URL: "https://idp.example/",
		Discovery: map[string]any{"token_endpoint": "https://idp.example/token"}})
	if idp.Issuer() != "https://idp.example" || idp.JWKSURL() != "https://idp.example"+jwtgatetest.JWKSPath || idp.TLSConfig() != nil {
		t.Fatalf("issuer %s jwks %s", idp.Issuer(), idp.JWKSURL())
	}
	_, body := get(t, idp, idp.DiscoveryURL(), nil)
	for _, want := range []string{`"issuer":"https://idp.example"`, `"jwks_uri":"https://idp.example/.well-known/jwks.json"`, `"token_endpoint":"https://idp.example/token"`} {
		if !contains(body, want) {
			t.Errorf("discovery %s lacks %s", body, want)
		}
	}
	resp, _ := get(t, idp, idp.JWKSURL(), nil)
	if resp.StatusCode != 200 || resp.ContentLength <= 0 || resp.Header.Get("ETag") == "" {
		t.Fatalf("jwks: %d, length %d, etag %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("ETag"))
	}
	resp, _ = get(t, idp, idp.JWKSURL(), map[string]string{"If-None-Match": resp.Header.Get("ETag")})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional: %d", resp.StatusCode)
	}
	if s := idp.Stats(); s.Discovery != 1 || s.JWKS != 2 || s.JWKSNotModified != 1 {
		t.Fatalf("stats %+v", s)
	}

	// A real cache and verifier over the in-memory client.
	c, _ := newCache(t, idp, cache.Config{WaitForFirstLoad: true})
	v, err := middleware.New(middleware.Config{Keys: c, Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), idp.Mint(t, jwtgatetest.Claims{})); err != nil {
		t.Fatal(err)
	}

	idp.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, idp.JWKSURL(), nil)
	if _, err := idp.Client().Do(req); !errors.Is(err, jwtgatetest.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// Inside a synctest bubble the in-memory issuer's faults run on the
// bubble's clock: a Delay passes in fake time, a Hang ends with the
// client's time-out or with Close, and time.Now dates minted tokens.
func TestURLModeInSynctestBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"EdDSA"}, URL: "https://idp.example"})
		client := idp.Client()
		fetch := func(timeout time.Duration) (time.Duration, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, idp.JWKSURL(), nil)
			start := time.Now()
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return time.Since(start), err
		}
		if err := idp.SetJWKS(jwtgatetest.Behavior{Delay: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if took, err := fetch(time.Hour); err != nil || took != time.Minute {
			t.Fatalf("delay: %v after %v, want success after 1m", err, took)
		}
		if err := idp.SetJWKS(jwtgatetest.Behavior{Hang: true}); err != nil {
			t.Fatal(err)
		}
		if took, err := fetch(5 * time.Second); !errors.Is(err, context.DeadlineExceeded) || took != 5*time.Second {
			t.Fatalf("hang: %v after %v, want the 5s time-out", err, took)
		}
		done := make(chan error)
		go func() {
			_, err := fetch(time.Hour)
			done <- err
		}()
		synctest.Wait() // the request is held by the Hang
		idp.Close()
		if err := <-done; !errors.Is(err, jwtgatetest.ErrClosed) {
			t.Fatalf("hang released by Close: %v, want ErrClosed", err)
		}
	})
}

func TestClock(t *testing.T) {
	clk := jwtgatetest.NewClock(time.Time{})
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if !clk.Now().Equal(start) {
		t.Fatalf("zero start: %v", clk.Now())
	}
	if got := clk.Advance(90 * time.Second); !got.Equal(start.Add(90*time.Second)) || !clk.Now().Equal(got) {
		t.Fatalf("Advance: %v, Now %v", got, clk.Now())
	}
	clk.Advance(-time.Hour)
	if !clk.Now().Equal(start.Add(90*time.Second - time.Hour)) {
		t.Fatalf("backwards: %v", clk.Now())
	}
	at := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	clk.Set(at)
	if !clk.Now().Equal(at) || !jwtgatetest.NewClock(at).Now().Equal(at) {
		t.Fatalf("Set: %v", clk.Now())
	}
	// Safe for concurrent use (run with -race), and it drives minting.
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, Now: clk.Now, URL: "https://idp.example"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			clk.Advance(time.Millisecond)
		}
	}()
	for range 100 {
		_ = clk.Now()
	}
	<-done
	clk.Set(at)
	if got := idp.ClaimsMap(jwtgatetest.Claims{})["iat"]; got != at.Unix() {
		t.Fatalf("iat %v, want %d", got, at.Unix())
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
