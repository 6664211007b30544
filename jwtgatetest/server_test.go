package jwtgatetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func get(t *testing.T, idp *jwtgatetest.Issuer, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := idp.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// newCache points a real cache at the issuer by discovery and reports each
// refresh's outcome on the returned channel.
func newCache(t *testing.T, idp *jwtgatetest.Issuer, cfg cache.Config) (*cache.Cache, <-chan cache.RefreshEvent) {
	t.Helper()
	events := make(chan cache.RefreshEvent, 16)
	cfg.Issuer = idp.Issuer()
	cfg.HTTPClient = idp.Client()
	cfg.Logger = quiet
	cfg.Observer.OnRefresh = func(e cache.RefreshEvent) { events <- e }
	c, err := cache.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, events
}

func TestDiscoveryAndJWKSThroughARealCache(t *testing.T) {
	for _, tls := range []bool{false, true} {
		idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256", "EdDSA"}, TLS: tls})
		if tls != strings.HasPrefix(idp.Issuer(), "https://") || !strings.HasPrefix(idp.Issuer(), "http") {
			t.Fatalf("issuer %s", idp.Issuer())
		}
		if (idp.TLSConfig() != nil) != tls {
			t.Fatalf("tls=%v: TLSConfig %v", tls, idp.TLSConfig())
		}
		_, doc := get(t, idp, idp.DiscoveryURL(), nil)
		var d struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(doc, &d); err != nil || d.Issuer != idp.Issuer() || d.JWKSURI != idp.JWKSURL() {
			t.Fatalf("discovery %s (%v)", doc, err)
		}
		c, events := newCache(t, idp, cache.Config{WaitForFirstLoad: true})
		if e := <-events; e.Err != nil {
			t.Fatal(e.Err)
		}
		v := verifier(t, idp, middleware.Config{Keys: c})
		for _, alg := range idp.Algorithms() {
			if _, err := v.Verify(context.Background(), idp.MintWith(t, jwtgatetest.Claims{}, jwtgatetest.MintOptions{Alg: alg})); err != nil {
				t.Fatalf("tls=%v %s: %v", tls, alg, err)
			}
		}
		if s := idp.Stats(); s.Discovery != 2 || s.JWKS != 1 || s.JWKSConditional != 0 {
			t.Fatalf("stats %+v, want 2 discovery (ours and the cache's), 1 JWKS", s)
		}
	}
}

// A rotation reaches a cache by its unknown-kid refresh, which is
// conditional and gets 200 with the new set; an unchanged set gets 304.
func TestConditionalRequestsAndCounters(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	resp, _ := get(t, idp, idp.JWKSURL(), nil)
	etag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lastMod == "" || resp.StatusCode != 200 {
		t.Fatalf("status %d, ETag %q, Last-Modified %q", resp.StatusCode, etag, lastMod)
	}
	for _, h := range []map[string]string{{"If-None-Match": etag}, {"If-None-Match": `"x", W/` + etag}, {"If-Modified-Since": lastMod}} {
		if resp, body := get(t, idp, idp.JWKSURL(), h); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Fatalf("%v: %d %q, want 304", h, resp.StatusCode, body)
		}
	}
	// If-None-Match decides alone when present (RFC 9110 §13.2.2).
	if resp, _ := get(t, idp, idp.JWKSURL(), map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": lastMod}); resp.StatusCode != 200 {
		t.Fatalf("mismatched If-None-Match: %d, want 200", resp.StatusCode)
	}
	if err := idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []map[string]string{{"If-None-Match": etag}, {"If-Modified-Since": lastMod}} {
		if resp, _ := get(t, idp, idp.JWKSURL(), h); resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
			t.Fatalf("%v after Rotate: %d, ETag %q", h, resp.StatusCode, resp.Header.Get("ETag"))
		}
	}
	if s := idp.Stats(); s != (jwtgatetest.Stats{JWKS: 7, JWKSConditional: 6, JWKSNotModified: 3}) {
		t.Fatalf("stats %+v", s)
	}
	idp.ResetStats()

	// Over real time, right after the load: an all but zero
	// UnknownKIDInterval, so that the set is not authoritative for the
	// rotated-in kid and it is fetched for at once.
	c, events := newCache(t, idp, cache.Config{WaitForFirstLoad: true, UnknownKIDInterval: time.Nanosecond})
	<-events
	v := verifier(t, idp, middleware.Config{Keys: c})
	if err := idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), idp.Mint(t, jwtgatetest.Claims{})); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if e := <-events; e.Outcome != cache.OutcomeUpdated {
		t.Fatalf("unknown-kid refresh: %s", e.Outcome)
	}
	if s := idp.Stats(); s.JWKS != 2 || s.JWKSConditional != 1 || s.JWKSNotModified != 0 {
		t.Fatalf("stats %+v, want the cache's first load and one conditional 200", s)
	}
}

func TestNotModifiedThroughARealCache(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	// An all but zero UnknownKIDInterval: the unknown kid refetches at once.
	c, events := newCache(t, idp, cache.Config{WaitForFirstLoad: true, UnknownKIDInterval: time.Nanosecond})
	<-events
	if _, err := c.KeyRead(context.Background(), "not-there"); err == nil {
		t.Fatal("unknown kid found")
	}
	if e := <-events; e.Outcome != cache.OutcomeNotModified {
		t.Fatalf("refresh of an unchanged set: %s, want not_modified", e.Outcome)
	}
	if s := idp.Stats(); s.JWKSConditional != 1 || s.JWKSNotModified != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFaultsSeenByARealCache(t *testing.T) {
	cases := []struct {
		name      string
		discovery jwtgatetest.Behavior
		jwks      jwtgatetest.Behavior
		want      error
	}{
		{"jwks 503", jwtgatetest.Behavior{}, jwtgatetest.Behavior{Status: 503}, nil},
		{"garbage", jwtgatetest.Behavior{}, jwtgatetest.Behavior{Body: []byte("<html>")}, cache.ErrInvalidJWKS},
		{"truncated", jwtgatetest.Behavior{}, jwtgatetest.Behavior{BodySize: 20}, cache.ErrInvalidJWKS},
		{"oversized", jwtgatetest.Behavior{}, jwtgatetest.Behavior{BodySize: 2 << 20}, cache.ErrBodyTooLarge},
		{"wrong issuer", jwtgatetest.Behavior{Issuer: "https://evil.invalid"}, jwtgatetest.Behavior{}, cache.ErrIssuerMismatch},
		{"discovery 404", jwtgatetest.Behavior{Status: 404}, jwtgatetest.Behavior{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
			if err := idp.SetDiscovery(tc.discovery); err != nil {
				t.Fatal(err)
			}
			if err := idp.SetJWKS(tc.jwks); err != nil {
				t.Fatal(err)
			}
			c, events := newCache(t, idp, cache.Config{})
			e := <-events
			if e.Err == nil || (tc.want != nil && !errors.Is(e.Err, tc.want)) || c.Ready() {
				t.Fatalf("first load: %v (ready %v), want %v", e.Err, c.Ready(), tc.want)
			}
			v := verifier(t, idp, middleware.Config{Keys: c})
			if _, err := v.Verify(context.Background(), idp.Mint(t, jwtgatetest.Claims{})); !errors.Is(err, middleware.ErrKeysUnavailable) {
				t.Fatalf("Verify: %v, want ErrKeysUnavailable", err)
			}
		})
	}
}

func TestHangReleasedByClientAndByClose(t *testing.T) {
	arrived := make(chan struct{}, 4)
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"},
		OnRequest: func(jwtgatetest.Request) { arrived <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.SetJWKS(jwtgatetest.Behavior{Hang: true}); err != nil {
		t.Fatal(err)
	}
	// The client gives up: the handler returns.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, idp.JWKSURL(), nil)
		_, err := idp.Client().Do(req)
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("hung request: %v, want canceled", err)
	}
	// Close releases a request still hanging, and returns.
	go func() {
		_, err := idp.Client().Get(idp.JWKSURL())
		done <- err
	}()
	<-arrived
	idp.Close()
	if err := <-done; err == nil {
		t.Fatal("hung request answered")
	}
}

func TestDelayAndHeaders(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := idp.SetJWKS(jwtgatetest.Behavior{Delay: time.Millisecond, CacheControl: "max-age=120", Expires: exp,
		Header: http.Header{"X-Test": {"1"}}, NoValidators: true}); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, idp, idp.JWKSURL(), map[string]string{"If-None-Match": "*"})
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "max-age=120" ||
		resp.Header.Get("Expires") != "Tue, 06 May 2031 07:08:09 GMT" || resp.Header.Get("X-Test") != "1" ||
		resp.Header.Get("ETag") != "" || !strings.Contains(string(body), `"keys"`) {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	// A delay longer than the client waits is the client's time-out.
	if err := idp.SetJWKS(jwtgatetest.Behavior{Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, idp.JWKSURL(), nil)
	if _, err := idp.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow provider: %v, want the client's deadline", err)
	}
	if err := idp.SetJWKS(jwtgatetest.Behavior{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, idp, idp.JWKSURL(), nil); resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "" {
		t.Fatalf("after reset: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestBodySizeIsExact(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	for _, n := range []int{10, 300, 4096} {
		if err := idp.SetJWKS(jwtgatetest.Behavior{BodySize: n}); err != nil {
			t.Fatal(err)
		}
		_, body := get(t, idp, idp.JWKSURL(), nil)
		if len(body) != n {
			t.Fatalf("BodySize %d: got %d bytes", n, len(body))
		}
		if n == 4096 && !json.Valid(body) {
			t.Fatalf("padded body is not JSON: %.80s", body)
		}
	}
}

func TestBehaviorValidation(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	for _, b := range []jwtgatetest.Behavior{{Delay: -1}, {BodySize: -1}, {Status: 99}, {Status: 304}, {Status: 600},
		{NoValidators: true, ETag: `"x"`}, {NoValidators: true, LastModified: time.Unix(1, 0)}} {
		if idp.SetJWKS(b) == nil || idp.SetDiscovery(b) == nil {
			t.Errorf("%+v accepted", b)
		}
	}
}

// ETag and LastModified give a Body of the test's own validators and 304s,
// and replace the generated ones on the real document; the discovery
// document never has any.
func TestValidatorsOfYourOwn(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, URL: "https://idp.test"})
	body := []byte(`{"keys":[]}`)
	lm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := idp.SetJWKS(jwtgatetest.Behavior{Body: body, ETag: `"v1"`, CacheControl: "max-age=60"}); err != nil {
		t.Fatal(err)
	}
	resp, got := get(t, idp, idp.JWKSURL(), nil)
	if resp.StatusCode != 200 || string(got) != string(body) || resp.Header.Get("ETag") != `"v1"` || resp.Header.Get("Last-Modified") != "" {
		t.Fatalf("%d %q ETag %q Last-Modified %q", resp.StatusCode, got, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
	}
	for h, want := range map[string]int{`"v1"`: 304, `W/"v1"`: 304, `"v0"`: 200} {
		resp, got := get(t, idp, idp.JWKSURL(), map[string]string{"If-None-Match": h})
		if resp.StatusCode != want || (want == 304 && (len(got) != 0 || resp.Header.Get("Cache-Control") != "max-age=60")) {
			t.Fatalf("If-None-Match %s: %d %q %v, want %d", h, resp.StatusCode, got, resp.Header, want)
		}
	}
	// Without a Last-Modified, If-Modified-Since alone never matches.
	if resp, _ := get(t, idp, idp.JWKSURL(), map[string]string{"If-Modified-Since": lm.Format(http.TimeFormat)}); resp.StatusCode != 200 {
		t.Fatalf("If-Modified-Since without Last-Modified: %d", resp.StatusCode)
	}
	if err := idp.SetJWKS(jwtgatetest.Behavior{Body: body, LastModified: lm}); err != nil {
		t.Fatal(err)
	}
	resp, _ = get(t, idp, idp.JWKSURL(), nil)
	if resp.Header.Get("ETag") != "" || resp.Header.Get("Last-Modified") != lm.Format(http.TimeFormat) {
		t.Fatalf("ETag %q Last-Modified %q", resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
	}
	for h, want := range map[string]int{lm.Format(http.TimeFormat): 304, lm.Add(-time.Second).Format(http.TimeFormat): 200} {
		if resp, _ := get(t, idp, idp.JWKSURL(), map[string]string{"If-Modified-Since": h}); resp.StatusCode != want {
			t.Fatalf("If-Modified-Since %s: %d, want %d", h, resp.StatusCode, want)
		}
	}
	// On the real document an ETag of the test's own stays across a
	// rotation: a stale 304.
	if err := idp.SetJWKS(jwtgatetest.Behavior{ETag: `"fixed"`}); err != nil {
		t.Fatal(err)
	}
	if err := idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, idp, idp.JWKSURL(), map[string]string{"If-None-Match": `"fixed"`}); resp.StatusCode != 304 {
		t.Fatalf("own ETag on the real document: %d, want 304", resp.StatusCode)
	}
	if resp, got := get(t, idp, idp.JWKSURL(), nil); resp.StatusCode != 200 || resp.Header.Get("ETag") != `"fixed"` || !strings.Contains(string(got), idp.KIDs()[0]) {
		t.Fatalf("%d ETag %q %s", resp.StatusCode, resp.Header.Get("ETag"), got)
	}
	if s := idp.Stats(); s.JWKSNotModified != 4 {
		t.Fatalf("stats %+v, want 4 answered 304", s)
	}
	// A status fault has no validators, whatever the Behavior says.
	if err := idp.SetJWKS(jwtgatetest.Behavior{Status: 500, ETag: `"v1"`}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, idp, idp.JWKSURL(), map[string]string{"If-None-Match": `"v1"`}); resp.StatusCode != 500 || resp.Header.Get("ETag") != "" {
		t.Fatalf("status fault: %d ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	// Discovery ignores them.
	if err := idp.SetDiscovery(jwtgatetest.Behavior{ETag: `"d"`}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, idp, idp.DiscoveryURL(), map[string]string{"If-None-Match": `"d"`}); resp.StatusCode != 200 || resp.Header.Get("ETag") != "" {
		t.Fatalf("discovery: %d ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

// The handler works without the server, for in-memory transports.
func TestHandlerInProcess(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	rec := httptest.NewRecorder()
	idp.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, jwtgatetest.JWKSPath, nil))
	if rec.Code != 200 || idp.Stats().JWKS != 1 {
		t.Fatalf("%d %+v", rec.Code, idp.Stats())
	}
}

// Faults, rotations and counters may change while clients fetch (run with
// -race).
func TestConcurrentChanges(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256", "EdDSA"}})
	keys := idp.Keys(t)
	v := verifier(t, idp, middleware.Config{Keys: keys, TokenCacheSize: -1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := range 20 {
			_ = idp.SetJWKS(jwtgatetest.Behavior{CacheControl: "max-age=" + strings.Repeat("1", n%3+1)})
			if err := idp.Rotate(); err != nil {
				t.Error(err)
				return
			}
			idp.Stats()
		}
	}()
	for range 20 {
		resp, _ := get(t, idp, idp.JWKSURL(), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if _, err := v.Verify(context.Background(), idp.Mint(t, jwtgatetest.Claims{})); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if n := len(idp.KIDs()); n != 42 {
		t.Fatalf("%d keys after 20 rotations of 2 algorithms, want 42", n)
	}
}
