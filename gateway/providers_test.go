package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// A provider that answers at start with a discovery document for another
// issuer is a configuration mistake: CheckStartup says so with the reason
// (the program then exits 2 before listening, cli's
// TestIssuerMismatchAtStartExitsTwo) rather than serve 503 for ever.
func TestIssuerMismatchAtStart(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	other := gwtest.StartIDP(t, false)
	localhost := strings.Replace(p.Issuer(), "127.0.0.1", "localhost", 1)
	route := []Route{{Prefix: "/", Upstream: up.URL}}
	for _, c := range []struct {
		name       string
		cfg        Config
		configured string
	}{
		{"trailing slash", Config{Issuer: p.Issuer() + "/", Routes: route}, p.Issuer() + "/"},
		{"localhost for 127.0.0.1", Config{Issuer: localhost, Routes: route}, localhost},
		{"one of two providers", Config{Issuer: other.Issuer(), Providers: []Provider{{Issuer: p.Issuer() + "/"}}, Routes: route}, p.Issuer() + "/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Listen = "127.0.0.1:0"
			g := startGateway(t, c.cfg, nil)
			ctx, cancel := context.WithTimeout(context.Background(), DefaultStartupWindow)
			defer cancel()
			err := g.CheckStartup(ctx)
			want := `discovery issuer mismatch: document says "` + p.Issuer() + `", configured "` + c.configured + `"`
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `provider "`+c.configured+`"`) {
				t.Errorf("CheckStartup: %v, want ErrInvalidConfig with %q", err, want)
			}
		})
	}
}

// A provider that is down or silent at start is an outage, not a mistake:
// CheckStartup lets the gateway serve, and /readyz says 503 and why.
func TestUnreachableProviderAtStartKeepsRunning(t *testing.T) {
	up := gwtest.StartUpstream(t)
	down := gwtest.StartIDP(t, true)
	gone, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	gone.Close() // its address now refuses connections
	silent := gwtest.StartIDP(t, false)
	// Held until the gateway's cache gives up the request, or the issuer
	// closes in the test's cleanup.
	if err := silent.SetDiscovery(jwtgatetest.Behavior{Hang: true}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name    string
		issuer  string
		window  time.Duration
		lastErr string // "" means none yet
	}{
		{"503", down.Issuer(), DefaultStartupWindow, "status 503"},
		{"connection refused", gone.Issuer(), DefaultStartupWindow, "connection refused"},
		// The start-up window ends before the provider answers.
		{"silent", silent.Issuer(), time.Nanosecond, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := startGateway(t, Config{Listen: "127.0.0.1:0", Issuer: c.issuer, Routes: []Route{{Prefix: "/", Upstream: up.URL}}}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), c.window)
			defer cancel()
			if err := g.CheckStartup(ctx); err != nil {
				t.Fatalf("CheckStartup: %v, want nil: an outage is no config error", err)
			}
			resp, body := g.get(t, "/readyz", "")
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("/readyz %d: %s", resp.StatusCode, body)
			}
			rb := gwtest.DecodeReadyz[ProviderStatus](t, body)
			if rb.Status != "keys not loaded" || len(rb.Providers) != 1 {
				t.Fatalf("/readyz body %s", body)
			}
			ps := rb.Providers[0]
			if ps.Issuer != c.issuer || ps.Ready || ps.Keys != 0 {
				t.Errorf("provider state %+v", ps)
			}
			if c.lastErr == "" && ps.LastError != "" || !strings.Contains(ps.LastError, c.lastErr) {
				t.Errorf("last_error %q, want it to mention %q", ps.LastError, c.lastErr)
			}
			if c.lastErr != "" && (ps.LastErrorAt == nil || ps.ConsecutiveFailures < 1) {
				t.Errorf("provider state %+v: want the failure's time and count", ps)
			}
			if resp, _ := g.get(t, "/healthz", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("/healthz %d", resp.StatusCode)
			}
		})
	}
}

// firstRefresh returns an Options.Cache hook and a channel that receives each
// refresh attempt's event.
func firstRefresh() (func(*cache.Config), chan cache.RefreshEvent) {
	ch := make(chan cache.RefreshEvent, 64)
	return func(c *cache.Config) {
		c.Observer.OnRefresh = gwtest.Chain(c.Observer.OnRefresh, func(e cache.RefreshEvent) {
			select {
			case ch <- e:
			default:
			}
		})
	}, ch
}

// A gateway built without the start-up check (an embedder calling New, or
// Run when the window ended first) still shows the mismatch in /readyz.
func TestReadyzNamesIssuerMismatch(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	tune, refreshed := firstRefresh()
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Issuer: p.Issuer() + "/", Routes: []Route{{Prefix: "/", Upstream: up.URL}}}, tune)
	<-refreshed
	resp, body := g.get(t, "/readyz", "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("/readyz %d %v: %s", resp.StatusCode, resp.Header, body)
	}
	ps := gwtest.DecodeReadyz[ProviderStatus](t, body).Providers
	want := `discovery issuer mismatch: document says "` + p.Issuer() + `", configured "` + p.Issuer() + `/"`
	if len(ps) != 1 || ps[0].Issuer != p.Issuer()+"/" || !strings.Contains(ps[0].LastError, want) || ps[0].JWKSURL != "" {
		t.Fatalf("providers %+v, want last_error with %q", ps, want)
	}
	if err := g.CheckStartup(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckStartup = %v", err)
	}
}

// /readyz is for operators and probes: a key in the JWKS URL's query (some
// hosted providers take one) must not show up in it.
func TestReadyzRedactsURLQuery(t *testing.T) {
	up := gwtest.StartUpstream(t)
	jwks := gwtest.StartIDP(t, false)
	if err := jwks.SetJWKS(jwtgatetest.Behavior{Status: http.StatusInternalServerError}); err != nil {
		t.Fatal(err)
	}
	tune, refreshed := firstRefresh()
	g := startGateway(t, Config{Listen: "127.0.0.1:0", JWKSURL: jwks.JWKSURL() + "?api_key=s3cret#frag", Routes: []Route{{Prefix: "/", Upstream: up.URL}}}, tune)
	<-refreshed
	_, body := g.get(t, "/readyz", "")
	if strings.Contains(body, "s3cret") || strings.Contains(body, "frag") {
		t.Fatalf("/readyz leaks the URL's query: %s", body)
	}
	ps := gwtest.DecodeReadyz[ProviderStatus](t, body).Providers
	if len(ps) != 1 || ps[0].JWKSURL != jwks.JWKSURL() || !strings.Contains(ps[0].LastError, jwks.JWKSURL()) || !strings.Contains(ps[0].LastError, "500") {
		t.Fatalf("providers %+v", ps)
	}
}

func TestReadyzListsEveryProvider(t *testing.T) {
	a, b, up := gwtest.StartIDP(t, false), gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, Config{
		Listen: "127.0.0.1:0", Issuer: a.Issuer(),
		Providers: []Provider{{Issuer: b.Issuer(), JWKSURL: b.JWKSURL()}},
		Routes:    []Route{{Prefix: "/", Upstream: up.URL}},
	}, nil)
	g.waitReady(t)
	resp, body := g.get(t, "/readyz", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz %d: %s", resp.StatusCode, body)
	}
	rb := gwtest.DecodeReadyz[ProviderStatus](t, body)
	if rb.Status != "ready" || len(rb.Providers) != 2 {
		t.Fatalf("/readyz body %s", body)
	}
	for i, want := range []struct{ iss, url string }{{a.Issuer(), a.JWKSURL()}, {b.Issuer(), b.JWKSURL()}} {
		ps := rb.Providers[i]
		if ps.Issuer != want.iss || ps.JWKSURL != want.url || !ps.Ready || ps.Keys < 1 || ps.Breaker != "closed" ||
			ps.LastSuccess == nil || ps.LastError != "" {
			t.Errorf("provider %d: %+v", i, ps)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://idp/keys":           "https://idp/keys",
		"https://idp/keys?k=v":       "https://idp/keys",
		"https://idp/keys?":          "https://idp/keys",
		"https://idp/keys#x":         "https://idp/keys",
		"https://u:p@idp/keys?k=v#x": "https://idp/keys",
		"":                           "",
		"http://[::1]:80/a%2Fb?x=1":  "http://[::1]:80/a%2Fb",
		"https://idp/keys\x00?bad=1": "",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
