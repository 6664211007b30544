package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"
)

func discoveryDoc(issuer, jwksURI string) []byte {
	return fmt.Appendf(nil, `{"issuer":%q,"jwks_uri":%q,"id_token_signing_alg_values_supported":["RS256"]}`, issuer, jwksURI)
}

func TestDiscoveryFindsJWKSURI(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	srv := serve(t, p)
	p.set(func(p *provider) { p.discovery = discoveryDoc(srv.URL, srv.URL+"/keys") })
	var fetches []FetchEvent
	var mu sync.Mutex
	c := newTestCache(t, Config{Issuer: srv.URL, WaitForFirstLoad: true, Observer: Observer{OnFetch: func(ev FetchEvent) {
		mu.Lock()
		fetches = append(fetches, ev)
		mu.Unlock()
	}}})
	mustRead(t, c, "a")
	if st := c.Status(); st.URL != srv.URL+"/keys" || st.Name != srv.URL {
		t.Fatalf("status url %q name %q", st.URL, st.Name)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fetches) != 2 || fetches[0].Kind != FetchDiscovery || fetches[0].URL != srv.URL+discoveryPath ||
		fetches[1].Kind != FetchJWKS || fetches[1].Status != 200 || fetches[1].Bytes == 0 || fetches[1].Err != nil {
		t.Fatalf("fetch events %+v", fetches)
	}
}

func TestDiscoveryWithWrongIssuerIsRefused(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	srv := serve(t, p)
	// The document claims another issuer (here: a trailing slash, which is not the same string).
	p.set(func(p *provider) { p.discovery = discoveryDoc(srv.URL+"/", srv.URL+"/keys") })
	cfg := Config{Issuer: srv.URL}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	ev := nextRefresh(t, evs)
	if ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, ErrIssuerMismatch) {
		t.Fatalf("refresh %+v, want failed with ErrIssuerMismatch", ev)
	}
	if c.Ready() || p.count() != 0 {
		t.Fatalf("ready %v, jwks fetched %d times: the keys must not be fetched", c.Ready(), p.count())
	}
	if _, err := c.KeyRead(context.Background(), "a"); !errors.Is(err, ErrKeysUnavailable) {
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
		const iss = "https://idp.test"
		p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
		p.discovery = discoveryDoc(iss, iss+"/keys-v1")
		var mu sync.Mutex
		var paths []string
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			paths = append(paths, r.URL.Path)
			mu.Unlock()
			if r.URL.Path == discoveryPath {
				w.Header().Set("Cache-Control", "max-age=3600")
			}
			p.ServeHTTP(w, r)
		})
		// The JWKS lives 10 min, the discovery document 1h.
		p.header = map[string]string{"Cache-Control": "max-age=600"}
		c := newTestCache(t, Config{Issuer: iss, HTTPClient: memClient(h), RefreshJitter: -1})
		synctest.Wait()
		mustRead(t, c, "a")
		// The provider moves its keys.
		p.set(func(p *provider) { p.discovery = discoveryDoc(iss, iss+"/keys-v2") })
		time.Sleep(65 * time.Minute)
		synctest.Wait()
		if st := c.Status(); st.URL != iss+"/keys-v2" {
			t.Fatalf("jwks url %q after the discovery TTL, want keys-v2", st.URL)
		}
		mu.Lock()
		defer mu.Unlock()
		disc := 0
		for _, p := range paths {
			if p == discoveryPath {
				disc++
			}
		}
		// Refreshes at 8, 16, … 64 min: discovery at start and once after 1h.
		if disc != 2 {
			t.Fatalf("discovery fetched %d times in %v, want 2", disc, paths)
		}
	})
}
