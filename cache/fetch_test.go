package cache

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestTTLFromHeaders(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const def, lo, hi = time.Hour, time.Minute, 24 * time.Hour
	tests := []struct {
		name string
		h    map[string]string
		want time.Duration
	}{
		{"none: default", nil, def},
		{"max-age", map[string]string{"Cache-Control": "public, max-age=600"}, 10 * time.Minute},
		{"max-age quoted", map[string]string{"Cache-Control": `max-age="600"`}, 10 * time.Minute},
		{"max-age minus Age", map[string]string{"Cache-Control": "max-age=600", "Age": "100"}, 500 * time.Second},
		{"max-age below min clamps", map[string]string{"Cache-Control": "max-age=5"}, lo},
		{"max-age above max clamps", map[string]string{"Cache-Control": "max-age=999999999999"}, hi},
		{"max-age garbage ignored", map[string]string{"Cache-Control": "max-age=abc"}, def},
		{"negative max-age ignored", map[string]string{"Cache-Control": "max-age=-5"}, def},
		{"no-store", map[string]string{"Cache-Control": "no-store"}, lo},
		{"no-cache", map[string]string{"Cache-Control": "no-cache, max-age=600"}, lo},
		{"Expires relative to Date", map[string]string{
			"Expires": now.Add(2 * time.Hour).Format(http.TimeFormat),
			"Date":    now.Format(http.TimeFormat)}, 2 * time.Hour},
		{"Expires relative to now", map[string]string{"Expires": now.Add(3 * time.Hour).Format(http.TimeFormat)}, 3 * time.Hour},
		{"invalid Expires: expired", map[string]string{"Expires": "0"}, lo},
		{"max-age beats Expires", map[string]string{"Cache-Control": "max-age=120",
			"Expires": now.Add(3 * time.Hour).Format(http.TimeFormat)}, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.h {
				h.Set(k, v)
			}
			if got := ttlFromHeaders(h, now, def, lo, hi); got != tt.want {
				t.Fatalf("ttl = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoffGrowsAndStaysInBounds(t *testing.T) {
	lo, hi := time.Second, time.Minute
	prevMax := time.Duration(0)
	for n := 1; n <= 50; n++ {
		minD, maxD := backoff(n, lo, hi, 0), backoff(n, lo, hi, 0.999999)
		if minD < lo/2 || maxD > hi {
			t.Fatalf("n=%d: [%v, %v] outside [%v, %v]", n, minD, maxD, lo/2, hi)
		}
		if maxD < prevMax {
			t.Fatalf("n=%d: back-off shrank from %v to %v", n, prevMax, maxD)
		}
		prevMax = maxD
	}
	if got := backoff(1, lo, hi, 0); got != lo/2 {
		t.Fatalf("first retry min = %v, want %v", got, lo/2)
	}
	if got := backoff(50, lo, hi, 0); got != hi/2 {
		t.Fatalf("capped retry min = %v, want %v", got, hi/2)
	}
}

// redirector answers /r/N with a redirect to /r/N-1, and /r/1 with one to
// target (the kit cannot redirect; this server serves nothing else).
func redirector(t *testing.T, target string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := strings.TrimPrefix(r.URL.Path, "/r/")
		if n == "1" {
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
		next := map[string]string{"2": "1", "3": "2", "4": "3"}[n]
		http.Redirect(w, r, "/r/"+next, http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRedirectsAtMostThree(t *testing.T) {
	idp := liveIdP(t)
	srv := redirector(t, idp.JWKSURL())
	c := newTestCache(t, Config{URL: srv.URL + "/r/3"})
	waitReady(t, c)
	mustRead(t, c, kidOf(t, idp, ""))

	cfg := Config{URL: srv.URL + "/r/4"}
	evs := observeRefreshes(&cfg)
	c4 := newTestCache(t, cfg)
	if ev := nextRefresh(t, evs); ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, ErrTooManyRedirects) {
		t.Fatalf("4 redirects: outcome %s err %v, want failed with ErrTooManyRedirects", ev.Outcome, ev.Err)
	}
	if c4.Ready() {
		t.Fatal("ready after a failed load")
	}
}

// The redirecting https server is httptest's: the kit cannot redirect.
func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	plain := liveIdP(t)
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.JWKSURL(), http.StatusFound))
	t.Cleanup(tlsSrv.Close)

	// Even AllowInsecureHTTP does not allow a downgrade.
	cfg := Config{URL: tlsSrv.URL + "/jwks", HTTPClient: tlsSrv.Client(), AllowInsecureHTTP: true}
	evs := observeRefreshes(&cfg)
	newTestCache(t, cfg)
	if ev := nextRefresh(t, evs); ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, ErrInsecureURL) {
		t.Fatalf("https → http: outcome %s err %v, want failed with ErrInsecureURL", ev.Outcome, ev.Err)
	}
	if s := plain.Stats(); s.JWKS != 0 {
		t.Fatalf("the http server was reached: %+v", s)
	}
	// Over https without a redirect the same client works (httptest and
	// the kit share httptest's certificate).
	ok := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, TLS: true})
	c2 := newTestCache(t, Config{URL: ok.JWKSURL(), HTTPClient: tlsSrv.Client()})
	waitReady(t, c2)
}

func TestRedirectToRemoteHTTPRefused(t *testing.T) {
	// From loopback http to a non-loopback http host: refused before any request.
	srv := httptest.NewServer(http.RedirectHandler("http://idp.example.com/jwks", http.StatusFound))
	t.Cleanup(srv.Close)
	cfg := Config{URL: srv.URL}
	evs := observeRefreshes(&cfg)
	newTestCache(t, cfg)
	if ev := nextRefresh(t, evs); ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, ErrInsecureURL) {
		t.Fatalf("redirect to remote http: outcome %s err %v, want failed with ErrInsecureURL", ev.Outcome, ev.Err)
	}
}
