package cache

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

func sign(t testing.TB, method jwt.SigningMethod, key crypto.Signer, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeyfuncVerifiesTokensOverTheCache(t *testing.T) {
	rk, ek, dk := rsaKey(t, 0), ecKey(t, elliptic.P256()), edKey(t)
	p := newProvider(jwks(
		jwkJSON(t, rk, "rsa", jwkset.AlgRS256),
		jwkJSON(t, ek, "ec", jwkset.AlgES256),
		jwkJSON(t, dk, "ed", jwkset.AlgEdDSA),
	))
	srv := serve(t, p)
	c := newTestCache(t, Config{URL: srv.URL, WaitForFirstLoad: true})
	kf, err := keyfunc.New(keyfunc.Options{Storage: c})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method jwt.SigningMethod
		key    crypto.Signer
		kid    string
	}{{jwt.SigningMethodRS256, rk, "rsa"}, {jwt.SigningMethodES256, ek, "ec"}, {jwt.SigningMethodEdDSA, dk, "ed"}} {
		tok, err := jwt.Parse(sign(t, tc.method, tc.key, tc.kid), kf.Keyfunc)
		if err != nil || !tok.Valid {
			t.Fatalf("%s: %v", tc.kid, err)
		}
	}
	// A token signed by a key the provider does not publish.
	_, err = jwt.Parse(sign(t, jwt.SigningMethodRS256, rsaKey(t, 1), "rsa"), kf.Keyfunc)
	if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("foreign key: err = %v, want signature invalid", err)
	}
	// An unknown kid is jwkset.ErrKeyNotFound, not ErrKeysUnavailable.
	_, err = jwt.Parse(sign(t, jwt.SigningMethodRS256, rk, "nope"), kf.Keyfunc)
	if !errors.Is(err, jwkset.ErrKeyNotFound) || errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("unknown kid: err = %v, want ErrKeyNotFound", err)
	}
	// The key's own alg must agree with the token's.
	_, err = jwt.Parse(sign(t, jwt.SigningMethodPS256, rk, "rsa"), kf.Keyfunc)
	if err == nil {
		t.Fatal("PS256 token accepted with an RS256 key")
	}
}

func TestRotationAddedKeyVerifiesRemovedKeyStops(t *testing.T) {
	a, b := rsaKey(t, 0), rsaKey(t, 1)
	p := newProvider(jwks(jwkJSON(t, a, "a", jwkset.AlgRS256)))
	srv := serve(t, p)
	c := newTestCache(t, Config{URL: srv.URL, WaitForFirstLoad: true, UnknownKIDInterval: time.Nanosecond})
	kf, _ := keyfunc.New(keyfunc.Options{Storage: c})
	verify := func(key crypto.Signer, kid string) error {
		_, err := jwt.Parse(sign(t, jwt.SigningMethodRS256, key, kid), kf.Keyfunc)
		return err
	}
	if err := verify(a, "a"); err != nil {
		t.Fatal(err)
	}
	gen := c.Generation()

	// The provider adds b: the first token with kid b triggers a refresh and verifies.
	p.set(func(p *provider) {
		p.body = jwks(jwkJSON(t, a, "a", jwkset.AlgRS256), jwkJSON(t, b, "b", jwkset.AlgRS256))
	})
	if err := verify(b, "b"); err != nil {
		t.Fatalf("added key: %v", err)
	}
	if c.Generation() != gen+1 {
		t.Fatalf("generation %d, want %d", c.Generation(), gen+1)
	}

	// The provider removes a: after the next refresh, a stops verifying.
	p.set(func(p *provider) { p.body = jwks(jwkJSON(t, b, "b", jwkset.AlgRS256)) })
	if err := verify(a, "a"); err != nil {
		t.Fatalf("a must still verify before the next refresh: %v", err)
	}
	if _, err := c.KeyRead(context.Background(), "trigger-refresh"); !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("unknown kid: %v", err)
	}
	if err := verify(a, "a"); !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("removed key: err = %v, want ErrKeyNotFound", err)
	}
	if err := verify(b, "b"); err != nil {
		t.Fatal(err)
	}
	if c.Generation() != gen+2 {
		t.Fatalf("generation %d, want %d", c.Generation(), gen+2)
	}
}

func TestBadResponsesKeepTheLastGoodSet(t *testing.T) {
	good := jwks(jwkJSON(t, rsaKey(t, 0), "good", jwkset.AlgRS256))
	tests := []struct {
		name string
		set  func(p *provider)
		want error
	}{
		{"500", func(p *provider) { p.status = 500 }, nil},
		{"html", func(p *provider) { p.body = []byte("<html>maintenance</html>") }, ErrInvalidJWKS},
		{"truncated json", func(p *provider) { p.body = good[:len(good)/2] }, ErrInvalidJWKS},
		{"empty set", func(p *provider) { p.body = []byte(`{"keys":[]}`) }, ErrNoUsableKeys},
		{"10 MiB body", func(p *provider) {
			p.body = []byte(`{"keys":[` + strings.Repeat(" ", 10<<20) + `]}`)
		}, ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(good)
			srv := serve(t, p)
			cfg := Config{URL: srv.URL, UnknownKIDInterval: time.Nanosecond}
			evs := observeRefreshes(&cfg)
			c := newTestCache(t, cfg)
			waitReady(t, c)
			nextRefresh(t, evs)
			gen, before := c.Generation(), c.Status()

			p.set(tt.set)
			if _, err := c.KeyRead(context.Background(), "unknown"); !errors.Is(err, jwkset.ErrKeyNotFound) {
				t.Fatalf("unknown kid: %v", err)
			}
			ev := nextRefresh(t, evs)
			if ev.Outcome != OutcomeFailed || ev.Reason != ReasonUnknownKID {
				t.Fatalf("refresh %+v, want a failed unknown_kid refresh", ev)
			}
			var fe *FetchError
			if !errors.As(ev.Err, &fe) || fe.URL != srv.URL {
				t.Fatalf("err %v is not a *FetchError for %s", ev.Err, srv.URL)
			}
			if tt.want != nil && !errors.Is(ev.Err, tt.want) {
				t.Fatalf("err %v, want %v", ev.Err, tt.want)
			}
			if tt.want == nil && fe.StatusCode != 500 {
				t.Fatalf("status %d, want 500", fe.StatusCode)
			}
			after := c.Status()
			if after.FetchErrors != before.FetchErrors+1 {
				t.Fatalf("fetch errors %d → %d, want +1", before.FetchErrors, after.FetchErrors)
			}
			if after.ConsecutiveFailures != 1 || after.LastError == nil {
				t.Fatalf("status after failure: %+v", after)
			}
			mustRead(t, c, "good")
			if !c.Ready() || c.Generation() != gen {
				t.Fatalf("ready %v generation %d→%d: the good set must stay", c.Ready(), gen, c.Generation())
			}
		})
	}
}

func TestServerHangingPastTheTimeoutKeepsTheLastGoodSet(t *testing.T) {
	// Real sockets; the time-out is short so the test waits for it, not for a sleep.
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "good", jwkset.AlgRS256)))
	srv := serve(t, p)
	cfg := Config{URL: srv.URL, FetchTimeout: 200 * time.Millisecond, UnknownKIDInterval: time.Nanosecond}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	nextRefresh(t, evs)
	p.set(func(p *provider) { p.hang = true })
	start := time.Now()
	if _, err := c.KeyRead(context.Background(), "unknown"); !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("err = %v", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("returned after %v, before the fetch time-out", waited)
	}
	ev := nextRefresh(t, evs)
	if ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, context.DeadlineExceeded) {
		t.Fatalf("refresh %+v, want failed with DeadlineExceeded", ev)
	}
	if st := c.Status(); st.FetchErrors != 1 || !st.Ready {
		t.Fatalf("status %+v", st)
	}
	mustRead(t, c, "good")
}

func TestConditionalRequestsETagAnd304(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	p.etag = `"v1"`
	p.header = map[string]string{"Cache-Control": "max-age=600"}
	srv := serve(t, p)
	now := newFakeClock()
	cfg := Config{URL: srv.URL, UnknownKIDInterval: time.Nanosecond, now: now.Now}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	nextRefresh(t, evs)
	first := c.Status()
	if want := now.Now().Add(600 * time.Second); !first.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v (max-age)", first.ExpiresAt, want)
	}

	now.Add(5 * time.Minute)
	c.KeyRead(context.Background(), "x") // an unknown kid forces a refresh
	if ev := nextRefresh(t, evs); ev.Outcome != OutcomeNotModified {
		t.Fatalf("outcome %s, want not_modified", ev.Outcome)
	}
	st := c.Status()
	if st.NotModified != 1 || st.Generation != first.Generation {
		t.Fatalf("status %+v", st)
	}
	if want := now.Now().Add(600 * time.Second); !st.ExpiresAt.Equal(want) {
		t.Fatalf("a 304 must renew the TTL: expires %v, want %v", st.ExpiresAt, want)
	}
	p.mu.Lock()
	cond, nm := p.condCount, p.notModified
	p.mu.Unlock()
	if cond != 1 || nm != 1 {
		t.Fatalf("provider saw %d conditional requests, sent %d 304s; want 1, 1", cond, nm)
	}
	mustRead(t, c, "a")

	// A new ETag with new content replaces the set.
	p.set(func(p *provider) {
		p.etag = `"v2"`
		p.body = jwks(jwkJSON(t, rsaKey(t, 1), "b", jwkset.AlgRS256))
	})
	now.Add(time.Second) // past UnknownKIDInterval
	mustRead(t, c, "b")
	if c.Generation() != first.Generation+1 {
		t.Fatalf("generation %d, want %d", c.Generation(), first.Generation+1)
	}
}

func TestConditionalRequestsLastModified(t *testing.T) {
	lm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	var conds atomic.Int32
	body := jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256))
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", lm)
		if r.Header.Get("If-Modified-Since") == lm {
			conds.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body)
	}))
	cfg := Config{URL: srv.URL, UnknownKIDInterval: time.Nanosecond}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	nextRefresh(t, evs)
	c.KeyRead(context.Background(), "x")
	if ev := nextRefresh(t, evs); ev.Outcome != OutcomeNotModified || conds.Load() != 1 {
		t.Fatalf("outcome %s, conditional requests %d", ev.Outcome, conds.Load())
	}
}

// Over real sockets and with a burst of 1, a flood of 1,000 concurrent
// random kids costs one fetch; every read wraps ErrKeyNotFound, and those
// the one refresh did not answer are told to retry (503), not that their
// token is bad. A kid published meanwhile is deferred too, not rejected.
func TestUnknownKIDFloodCausesAtMostOneFetch(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	srv := serve(t, p)
	c := newTestCache(t, Config{URL: srv.URL, WaitForFirstLoad: true, UnknownKIDInterval: time.Hour, UnknownKIDBurst: 1})
	before := p.count()

	var wg sync.WaitGroup
	var notFound, deferred atomic.Int32
	start := make(chan struct{})
	for range 1000 {
		wg.Go(func() {
			<-start
			_, err := c.KeyRead(context.Background(), fmt.Sprintf("kid-%d", rand.Uint64()))
			if errors.Is(err, jwkset.ErrKeyNotFound) {
				notFound.Add(1)
			}
			if _, ok := retryAfter(err); ok && errors.Is(err, ErrKeysUnavailable) {
				deferred.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := p.count() - before; got > 1 {
		t.Fatalf("1000 unknown kids caused %d fetches, want at most 1", got)
	}
	if notFound.Load() != 1000 {
		t.Fatalf("%d of 1000 reads returned ErrKeyNotFound", notFound.Load())
	}
	st := c.Status()
	if st.UnknownKIDRefreshes != 1 || st.DeferredKIDReads != uint64(deferred.Load()) {
		t.Fatalf("unknown-kid refreshes %d (want 1), deferred reads %d (counted %d)", st.UnknownKIDRefreshes, st.DeferredKIDReads, deferred.Load())
	}
	// With the budget spent, even a kid the provider now has is not
	// fetched: the read is deferred, with the time until the next refresh.
	p.set(func(p *provider) { p.body = jwks(jwkJSON(t, rsaKey(t, 1), "b", jwkset.AlgRS256)) })
	_, err := c.KeyRead(context.Background(), "b")
	if ra, ok := retryAfter(err); !errors.Is(err, ErrKeysUnavailable) || !ok || ra < 59*time.Minute {
		t.Fatalf("err = %v (retry hint %v), want ErrKeysUnavailable at once, retry in about an hour", err, ra)
	}
	if got := p.count() - before; got > 1 {
		t.Fatalf("fetches %d after the budget-limited read", got)
	}
}

func TestConcurrentReadsOfANewKIDShareOneRefreshAndAllFindIt(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	srv := serve(t, p)
	c := newTestCache(t, Config{URL: srv.URL, WaitForFirstLoad: true, UnknownKIDInterval: time.Hour})
	before := p.count()
	// The provider publishes b; 1,000 requests carrying kid b arrive together.
	p.set(func(p *provider) {
		p.body = jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256), jwkJSON(t, rsaKey(t, 1), "b", jwkset.AlgRS256))
	})
	var wg sync.WaitGroup
	var found atomic.Int32
	start := make(chan struct{})
	for range 1000 {
		wg.Go(func() {
			<-start
			if _, err := c.KeyRead(context.Background(), "b"); err == nil {
				found.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := p.count() - before; got != 1 {
		t.Fatalf("%d fetches, want exactly 1", got)
	}
	// Readers that arrived after the refresh finished hit the new set directly;
	// none may have been turned away while it ran.
	if found.Load() != 1000 {
		t.Fatalf("%d of 1000 readers found the new key", found.Load())
	}
}

func TestKeyReadUnknownKIDWithinIntervalAllocatesNothing(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	c := newTestCache(t, Config{URL: serve(t, p).URL, WaitForFirstLoad: true})
	ctx := context.Background()
	c.KeyRead(ctx, "first-miss-refreshes")
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.KeyRead(ctx, "unknown"); !errors.Is(err, jwkset.ErrKeyNotFound) {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("unknown-kid miss: %v allocations, want 0", allocs)
	}
}

func TestEmptyKIDNeverTriggersRefresh(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	srv := serve(t, p)
	c := newTestCache(t, Config{URL: srv.URL, WaitForFirstLoad: true, UnknownKIDInterval: time.Nanosecond})
	before := p.count()
	if _, err := c.KeyRead(context.Background(), ""); !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("err = %v", err)
	}
	if p.count() != before {
		t.Fatal("an empty kid caused a fetch")
	}
}

func TestKeysUnavailableBeforeFirstLoad(t *testing.T) {
	p := newProvider(nil)
	p.status = http.StatusServiceUnavailable
	srv := serve(t, p)
	cfg := Config{URL: srv.URL}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	nextRefresh(t, evs)
	for _, err := range []error{
		func() error { _, err := c.KeyRead(context.Background(), "a"); return err }(),
		func() error { _, err := c.KeyReadAll(context.Background()); return err }(),
	} {
		if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, jwkset.ErrKeyNotFound) {
			t.Fatalf("before load: err = %v, want ErrKeysUnavailable only", err)
		}
	}
	if c.Ready() {
		t.Fatal("ready without keys")
	}

}

func TestStorageIsReadOnlyAndMarshals(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	c := newTestCache(t, Config{URL: serve(t, p).URL, WaitForFirstLoad: true})
	ctx := context.Background()
	k := mustRead(t, c, "a")
	if err := c.KeyWrite(ctx, k); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("KeyWrite: %v", err)
	}
	if _, err := c.KeyDelete(ctx, "a"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("KeyDelete: %v", err)
	}
	if err := c.KeyReplaceAll(ctx, nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("KeyReplaceAll: %v", err)
	}
	mustRead(t, c, "a")
	for name, f := range map[string]func(context.Context) ([]byte, error){
		"JSON":        func(ctx context.Context) ([]byte, error) { return c.JSON(ctx) },
		"JSONPublic":  func(ctx context.Context) ([]byte, error) { return c.JSONPublic(ctx) },
		"JSONPrivate": func(ctx context.Context) ([]byte, error) { return c.JSONPrivate(ctx) },
	} {
		b, err := f(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ps, err := parseJWKS(b, 10)
		if err != nil || ps.byKID["a"].Marshal().N == "" {
			t.Fatalf("%s does not round-trip: %v %s", name, err, b)
		}
		if strings.Contains(string(b), `"d"`) {
			t.Fatalf("%s leaks private material", name)
		}
	}
	m, err := c.Marshal(ctx)
	if err != nil || len(m.Keys) != 1 || m.Keys[0].KID != "a" {
		t.Fatalf("Marshal: %v %+v", err, m)
	}
	all, err := c.KeyReadAll(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("KeyReadAll: %v %d", err, len(all))
	}
}

func TestKeyReadHitAllocatesNothing(t *testing.T) {
	p := newProvider(jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256)))
	c := newTestCache(t, Config{URL: serve(t, p).URL, WaitForFirstLoad: true})
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.KeyRead(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("KeyRead hit: %v allocations, want 0", allocs)
	}
}

func TestSkippedKeysAreLoggedWithReason(t *testing.T) {
	var logs logBuffer
	body := jwks(jwkJSON(t, rsaKey(t, 0), "a", jwkset.AlgRS256), []byte(`{"kty":"oct","kid":"hmac","k":"AA"}`))
	c := newTestCache(t, Config{URL: serve(t, newProvider(body)).URL, WaitForFirstLoad: true, Logger: logs.logger()})
	st := c.Status()
	if len(st.Keys) != 1 || len(st.Skipped) != 1 || st.Skipped[0].KID != "hmac" {
		t.Fatalf("status keys %+v skipped %+v", st.Keys, st.Skipped)
	}
	if st.Keys[0].Bits != 2048 || st.Keys[0].KID != "a" || st.Keys[0].ALG != "RS256" {
		t.Fatalf("key info %+v", st.Keys[0])
	}
	out := logs.String()
	if !strings.Contains(out, "skipping unusable key") || !strings.Contains(out, "kid=hmac") || !strings.Contains(out, `unsupported kty`) {
		t.Fatalf("log lacks the skip line:\n%s", out)
	}
}

// fakeClock is a settable clock for tests that drive staleness by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}
