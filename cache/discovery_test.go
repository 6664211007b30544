package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestDiscoveryFindsJWKSURI(t *testing.T) {
	idp := liveIdP(t)
	var fetches []FetchEvent
	var mu sync.Mutex
	c := newTestCache(t, Config{Issuer: idp.Issuer(), WaitForFirstLoad: true, Observer: Observer{OnFetch: func(ev FetchEvent) {
		mu.Lock()
		fetches = append(fetches, ev)
		mu.Unlock()
	}}})
	mustRead(t, c, kidOf(t, idp, ""))
	if st := c.Status(); st.URL != idp.JWKSURL() || st.Name != idp.Issuer() {
		t.Fatalf("status url %q name %q", st.URL, st.Name)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fetches) != 2 || fetches[0].Kind != FetchDiscovery || fetches[0].URL != idp.Issuer()+discoveryPath ||
		fetches[1].Kind != FetchJWKS || fetches[1].Status != 200 || fetches[1].Bytes == 0 || fetches[1].Err != nil {
		t.Fatalf("fetch events %+v", fetches)
	}
}

func TestDiscoveryWithWrongIssuerIsRefused(t *testing.T) {
	idp := liveIdP(t)
	// The document claims another issuer (here: a trailing slash, which is not the same string).
	if err := idp.SetDiscovery(jwtgatetest.Behavior{Issuer: idp.Issuer() + "/"}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Issuer: idp.Issuer()}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	ev := nextRefresh(t, evs)
	if ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, ErrIssuerMismatch) {
		t.Fatalf("refresh %+v, want failed with ErrIssuerMismatch", ev)
	}
	if c.Ready() || fetches(idp) != 0 || idp.Stats().Discovery != 1 {
		t.Fatalf("ready %v, stats %+v: the keys must not be fetched", c.Ready(), idp.Stats())
	}
	if _, err := c.KeyRead(context.Background(), kidOf(t, idp, "")); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseDiscovery(t *testing.T) {
	const iss = "https://idp.example.com"
	tests := []struct {
		name, body string
		want       error
	}{
		{"ok", `{"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/k"}`, nil},
		{"issuer differs", `{"issuer":"https://evil.example.com","jwks_uri":"https://idp.example.com/k"}`, ErrIssuerMismatch},
		{"issuer case differs", `{"issuer":"https://IDP.example.com","jwks_uri":"https://idp.example.com/k"}`, ErrIssuerMismatch},
		{"no issuer", `{"jwks_uri":"https://idp.example.com/k"}`, ErrInvalidDiscovery},
		{"no jwks_uri", `{"issuer":"https://idp.example.com"}`, ErrInvalidDiscovery},
		{"http jwks_uri", `{"issuer":"https://idp.example.com","jwks_uri":"http://idp.example.com/k"}`, ErrInsecureURL},
		{"html", `<html>`, ErrInvalidDiscovery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := parseDiscovery([]byte(tt.body), iss, false)
			if tt.want == nil {
				if err != nil || u != "https://idp.example.com/k" {
					t.Fatalf("%q, %v", u, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDiscoveryDocumentIsRefreshedToo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		// The JWKS lives 10 min, the discovery document 1h. The two
		// jwks_uri differ by a query the issuer ignores.
		v1, v2 := idp.JWKSURL()+"?v=1", idp.JWKSURL()+"?v=2"
		if err := idp.SetDiscovery(jwtgatetest.Behavior{JWKSURI: v1, CacheControl: "max-age=3600"}); err != nil {
			t.Fatal(err)
		}
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=600"})
		c := newTestCache(t, Config{Issuer: idp.Issuer(), HTTPClient: idp.Client(), RefreshJitter: -1})
		synctest.Wait()
		mustRead(t, c, kidOf(t, idp, ""))
		if st := c.Status(); st.URL != v1 {
			t.Fatalf("jwks url %q, want %q", st.URL, v1)
		}
		// The provider moves its keys.
		if err := idp.SetDiscovery(jwtgatetest.Behavior{JWKSURI: v2, CacheControl: "max-age=3600"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(65 * time.Minute)
		synctest.Wait()
		if st := c.Status(); st.URL != v2 || st.LastError != nil {
			t.Fatalf("jwks url %q (last error %v) after the discovery TTL, want %q", st.URL, st.LastError, v2)
		}
		// Refreshes at 8, 16, … 64 min: discovery at start and once after 1h.
		if disc := idp.Stats().Discovery; disc != 2 {
			t.Fatalf("discovery fetched %d times, want 2", disc)
		}
	})
}
