package middleware

import (
	"context"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// setRateLimitHeaders writes exactly what h.Set of each rendered value
// writes, replacing what was there, for every range of values: without a
// kept limit, and with one shared by every decision (the first limit is
// kept; the others, a tiered route's, must still be rendered, not taken
// from it).
func TestSetRateLimitHeadersAsHeaderSet(t *testing.T) {
	for _, lt := range []*limitText{nil, new(limitText)} {
		testSetRateLimitHeaders(t, lt)
		testSetRateLimitHeaders(t, lt) // now with the kept limit
	}
	lt := new(limitText)
	setRateLimitHeaders(http.Header{}, ratelimit.Decision{Limit: 10}, lt)
	if s, ok := lt.get(10); !ok || s != "10" {
		t.Errorf("kept %q, %v; want \"10\"", s, ok)
	}
	if _, ok := lt.get(11); ok {
		t.Error("another limit found kept")
	}
}

func testSetRateLimitHeaders(t *testing.T, lt *limitText) {
	t.Helper()
	for _, d := range []ratelimit.Decision{
		{Limit: 10, Remaining: 9, ResetAfter: 100 * time.Millisecond},
		{Limit: 0, Remaining: -3, ResetAfter: 0},
		{Limit: 1e9, Remaining: 999_999_999, ResetAfter: time.Second},
		{Limit: 5, Remaining: 0, ResetAfter: time.Second + 1},
		{Limit: math.MaxInt64, Remaining: math.MaxInt64, ResetAfter: math.MaxInt64},
		{Limit: math.MinInt64, Remaining: math.MinInt64, ResetAfter: math.MinInt64},
	} {
		want := http.Header{"X-Other": {"kept"}}
		want.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		want.Set("RateLimit-Remaining", strconv.Itoa(max(d.Remaining, 0)))
		want.Set("RateLimit-Reset", seconds(d.ResetAfter))
		got := http.Header{"X-Other": {"kept"}, "Ratelimit-Limit": {"old", "older"}, "Ratelimit-Reset": {"old"}}
		setRateLimitHeaders(got, d, lt)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: %v, want %v", d, got, want)
		}
		if got.Get("RateLimit-Remaining") != want.Get("RateLimit-Remaining") {
			t.Errorf("%+v: Get does not find RateLimit-Remaining", d)
		}
	}
}

// The headers of a limited cache hit cost one allocation in all, with the
// limit kept or not.
func TestSetRateLimitHeadersAllocatesOnce(t *testing.T) {
	h := http.Header{}
	d := ratelimit.Decision{Allowed: true, Limit: 1e9, Remaining: 123_456_789, ResetAfter: 90 * time.Second}
	lt := new(limitText)
	setRateLimitHeaders(h, d, lt) // keeps the limit: its one allocation
	for _, lt := range []*limitText{nil, lt} {
		if n := testing.AllocsPerRun(100, func() { setRateLimitHeaders(h, d, lt) }); n != 1 {
			t.Errorf("kept %v: %v allocations, want 1", lt != nil, n)
		}
	}
}

// A cache hit with a ratelimit.Local limiter costs at most one allocation
// more than the same hit without one (the RateLimit-* values), with or
// without observers.
func TestLimitedHitAddsOneAllocation(t *testing.T) {
	k := keys(t)
	v, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	r := bearerReq(sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims()))
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	allocs := func(h http.Handler) float64 {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r) // verified and cached
		return testing.AllocsPerRun(200, func() {
			w.status = 0
			h.ServeHTTP(w, r)
			if w.status != 0 {
				t.Fatalf("status %d", w.status)
			}
		})
	}
	limit := func(onDecision func(RateLimitEvent), observe func(ratelimit.Event)) *RateLimit {
		lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1e9, Observer: observe})
		if err != nil {
			t.Fatal(err)
		}
		return &RateLimit{Limiter: lim, OnDecision: onDecision}
	}
	hit := allocs(v.Handler(next))
	for name, rl := range map[string]*RateLimit{
		"no hooks": limit(nil, nil),
		"hooks":    limit(func(RateLimitEvent) {}, func(ratelimit.Event) {}),
	} {
		if got := allocs(v.With(Route{RateLimit: rl}).Handler(next)); got > hit+1 {
			t.Errorf("%s: a limited hit costs %v allocations, the unlimited one %v: want at most one more", name, got, hit)
		}
	}
}

// With two accepted issuers the default key is "iss#sub", made once per
// verified token: the same sub from each issuer spends its own bucket, on
// a miss and on a cache hit alike, and a hit allocates no key.
func TestIssuerKeyMadeOncePerToken(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.Issuers = []string{"https://idp.test/", "https://other.test/"}
	lim := newBucketLimiter(1000, 1000, clock)
	cfg.RateLimit = RateLimit{Limiter: lim}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	mine := bearerReq(sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims()))
	other := bearerReq(sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, with(goodClaims(), "iss", "https://other.test/")))
	for range 3 { // miss, miss (cached on the second sighting or at once), hit
		for _, r := range []*http.Request{mine, other} {
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, r)
			if w.status != 0 {
				t.Fatalf("status %d", w.status)
			}
		}
	}
	sub := goodClaims()["sub"].(string)
	for i, got := range lim.calls {
		want := "https://idp.test/#" + sub + "/1"
		if i%2 == 1 {
			want = "https://other.test/#" + sub + "/1"
		}
		if got != want {
			t.Errorf("call %d: key %q, want %q", i, got, want)
		}
	}
	local := func(c Config) http.Handler {
		lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1e9})
		if err != nil {
			t.Fatal(err)
		}
		c.RateLimit = RateLimit{Limiter: lim}
		v, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		return v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	}
	allocs := func(h http.Handler) float64 {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, mine)
		h.ServeHTTP(w, mine)
		return testing.AllocsPerRun(100, func() { h.ServeHTTP(w, mine) })
	}
	if one, two := allocs(local(baseConfig(memKeys(t)))), allocs(local(cfg)); two > one {
		t.Errorf("a hit with two issuers allocates %v, with one %v", two, one)
	}
}

// Answers with the same Remaining and Reset share the kept text but never
// a header's slice: a handler writing into one answer's h[k][0] does not
// reach the next. A changed value is rendered again, and with vals given
// and the text kept, the headers allocate nothing.
func TestSetRateLimitHeadersKeepsLastText(t *testing.T) {
	lt := new(limitText)
	d := ratelimit.Decision{Allowed: true, Limit: 1e9, Remaining: 999_999_999, ResetAfter: time.Nanosecond}
	setRateLimitHeaders(http.Header{}, d, lt) // keeps the limit
	first, second := http.Header{}, http.Header{}
	setRateLimitHeaders(first, d, lt) // keeps the rest
	setRateLimitHeaders(second, d, lt)
	first["Ratelimit-Remaining"][0] = "changed"
	first["Ratelimit-Limit"][0] = "changed"
	want := http.Header{"Ratelimit-Limit": {"1000000000"}, "Ratelimit-Remaining": {"999999999"}, "Ratelimit-Reset": {"1"}}
	if !reflect.DeepEqual(second, want) {
		t.Errorf("second answer %v, want %v", second, want)
	}
	for _, c := range []struct {
		d    ratelimit.Decision
		want http.Header
	}{
		{ratelimit.Decision{Limit: 1e9, Remaining: 5, ResetAfter: time.Nanosecond},
			http.Header{"Ratelimit-Limit": {"1000000000"}, "Ratelimit-Remaining": {"5"}, "Ratelimit-Reset": {"1"}}},
		{ratelimit.Decision{Limit: 1e9, Remaining: 5, ResetAfter: 2 * time.Second},
			http.Header{"Ratelimit-Limit": {"1000000000"}, "Ratelimit-Remaining": {"5"}, "Ratelimit-Reset": {"2"}}},
		{ratelimit.Decision{Limit: 7, Remaining: 5, ResetAfter: 2 * time.Second}, // a tier's limit
			http.Header{"Ratelimit-Limit": {"7"}, "Ratelimit-Remaining": {"5"}, "Ratelimit-Reset": {"2"}}},
		{ratelimit.Decision{Limit: 1e9, Remaining: -1, ResetAfter: 2 * time.Second},
			http.Header{"Ratelimit-Limit": {"1000000000"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"2"}}},
		{ratelimit.Decision{Limit: 1e9, Remaining: 0, ResetAfter: 2 * time.Second}, // the same text again
			http.Header{"Ratelimit-Limit": {"1000000000"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"2"}}},
	} {
		got := http.Header{}
		setRateLimitHeaders(got, c.d, lt)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.d, got, c.want)
		}
	}
	h := http.Header{}
	var vals [3]string
	d.Remaining = 0
	d.ResetAfter = 2 * time.Second
	if n := testing.AllocsPerRun(100, func() { setRateLimitHeadersIn(h, d, lt, &vals) }); n != 0 {
		t.Errorf("kept text into vals: %v allocations, want 0", n)
	}
}

// Through Handler, a limited cache hit whose RateLimit-* text is the last
// answer's allocates no more than the unlimited hit (the values live in
// the claims' context), and the next handler still finds the claims and
// every value of the request's own context.
func TestSteadyLimitedHitAddsNoAllocation(t *testing.T) {
	k := keys(t)
	v, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	type ctxKey struct{}
	r := bearerReq(sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims()))
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, "mine"))
	var sub, mine any
	next := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFromContext(r.Context())
		sub, mine = c.Subject, r.Context().Value(ctxKey{})
	})
	// Every request a second later: the bucket is full again each time,
	// so every answer says the same.
	now := time.Unix(1e9, 0)
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 10, Burst: 10, Now: func() time.Time {
		now = now.Add(time.Second)
		return now
	}})
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(h http.Handler, remaining string) float64 {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r) // verified and cached
		h.ServeHTTP(w, r) // the kept text
		return testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.status != 0 || w.h.Get("RateLimit-Remaining") != remaining {
				t.Fatalf("status %d, headers %v", w.status, w.h)
			}
		})
	}
	hit := allocs(v.Handler(next), "")
	if got := allocs(v.With(Route{RateLimit: &RateLimit{Limiter: lim}}).Handler(next), "9"); got != hit {
		t.Errorf("a steady limited hit costs %v allocations, the unlimited one %v", got, hit)
	}
	if sub != goodClaims()["sub"] || mine != "mine" {
		t.Errorf("next saw sub %v and the request's value %v", sub, mine)
	}
}
