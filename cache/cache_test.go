package cache

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestKeyfuncVerifiesTokensOverTheCache(t *testing.T) {
	idp := liveIdP(t, "RS256", "ES256", "EdDSA", "PS256")
	// The PS256 key is published labelled RS256: a PS256 token it signed
	// must still be refused, the key's own alg must agree with the token's.
	keys := publishedJWKs(t, idp)
	ps := kidOf(t, idp, "PS256")
	for n, k := range keys {
		if strings.Contains(string(k), ps) {
			keys[n] = edit(t, k, map[string]any{"alg": "RS256"})
		}
	}
	setJWKS(t, idp, jwtgatetest.Behavior{Body: jwks(keys...)})
	c := newTestCache(t, Config{URL: idp.JWKSURL(), WaitForFirstLoad: true})
	kf, err := keyfunc.New(keyfunc.Options{Storage: c})
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		tok, err := jwt.Parse(idp.MintWith(t, jwtgatetest.Claims{}, jwtgatetest.MintOptions{Alg: alg}), kf.Keyfunc)
		if err != nil || !tok.Valid {
			t.Fatalf("%s: %v", alg, err)
		}
	}
	// A token signed by a key the provider does not publish, under its kid.
	_, err = jwt.Parse(idp.Bad(t, jwtgatetest.HeaderJKU), kf.Keyfunc)
	if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("foreign key: err = %v, want signature invalid", err)
	}
	// An unknown kid is jwkset.ErrKeyNotFound, not ErrKeysUnavailable.
	_, err = jwt.Parse(idp.MintWith(t, jwtgatetest.Claims{}, jwtgatetest.MintOptions{KID: "nope"}), kf.Keyfunc)
	if !errors.Is(err, jwkset.ErrKeyNotFound) || errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("unknown kid: err = %v, want ErrKeyNotFound", err)
	}
	_, err = jwt.Parse(idp.MintWith(t, jwtgatetest.Claims{}, jwtgatetest.MintOptions{Alg: "PS256"}), kf.Keyfunc)
	if err == nil {
		t.Fatal("PS256 token accepted with an RS256 key")
	}
}

func TestRotationAddedKeyVerifiesRemovedKeyStops(t *testing.T) {
	idp := liveIdP(t, "RS256")
	a := kidOf(t, idp, "")
	c := newTestCache(t, Config{URL: idp.JWKSURL(), WaitForFirstLoad: true, UnknownKIDInterval: time.Nanosecond})
	kf, _ := keyfunc.New(keyfunc.Options{Storage: c})
	verify := func(kid string) error {
		_, err := jwt.Parse(idp.MintWith(t, jwtgatetest.Claims{}, jwtgatetest.MintOptions{Key: kid}), kf.Keyfunc)
		return err
	}
	if err := verify(a); err != nil {
		t.Fatal(err)
	}
	gen := c.Generation()

	// The provider adds b: the first token with kid b triggers a refresh and verifies.
	b := rotate(t, idp)
	if err := verify(b); err != nil {
		t.Fatalf("added key: %v", err)
	}
	if c.Generation() != gen+1 {
		t.Fatalf("generation %d, want %d", c.Generation(), gen+1)
	}

	// The provider removes a: after the next refresh, a stops verifying.
	remove(t, idp, a)
	if err := verify(a); err != nil {
		t.Fatalf("a must still verify before the next refresh: %v", err)
	}
	if _, err := c.KeyRead(context.Background(), "trigger-refresh"); !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("unknown kid: %v", err)
	}
	if err := verify(a); !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("removed key: err = %v, want ErrKeyNotFound", err)
	}
	if err := verify(b); err != nil {
		t.Fatal(err)
	}
	if c.Generation() != gen+2 {
		t.Fatalf("generation %d, want %d", c.Generation(), gen+2)
	}
}

func TestBadResponsesKeepTheLastGoodSet(t *testing.T) {
	tests := []struct {
		name string
		set  jwtgatetest.Behavior
		want error
	}{
		{"500", jwtgatetest.Behavior{Status: 500}, nil},
		{"html", jwtgatetest.Behavior{Body: []byte("<html>maintenance</html>")}, ErrInvalidJWKS},
		{"truncated json", jwtgatetest.Behavior{BodySize: 60}, ErrInvalidJWKS},
		{"empty set", jwtgatetest.Behavior{Body: []byte(`{"keys":[]}`)}, ErrNoUsableKeys},
		{"10 MiB body", jwtgatetest.Behavior{BodySize: 10 << 20}, ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := liveIdP(t)
			good := kidOf(t, idp, "")
			cfg := Config{URL: idp.JWKSURL(), UnknownKIDInterval: time.Nanosecond}
			evs := observeRefreshes(&cfg)
			c := newTestCache(t, cfg)
			waitReady(t, c)
			nextRefresh(t, evs)
			gen, before := c.Generation(), c.Status()

			setJWKS(t, idp, tt.set)
			if _, err := c.KeyRead(context.Background(), "unknown"); !errors.Is(err, jwkset.ErrKeyNotFound) {
				t.Fatalf("unknown kid: %v", err)
			}
			ev := nextRefresh(t, evs)
			if ev.Outcome != OutcomeFailed || ev.Reason != ReasonUnknownKID {
				t.Fatalf("refresh %+v, want a failed unknown_kid refresh", ev)
			}
			var fe *FetchError
			if !errors.As(ev.Err, &fe) || fe.URL != idp.JWKSURL() {
				t.Fatalf("err %v is not a *FetchError for %s", ev.Err, idp.JWKSURL())
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
			mustRead(t, c, good)
			if !c.Ready() || c.Generation() != gen {
				t.Fatalf("ready %v generation %d→%d: the good set must stay", c.Ready(), gen, c.Generation())
			}
		})
	}
}

func TestServerHangingPastTheTimeoutKeepsTheLastGoodSet(t *testing.T) {
	// Real sockets; the time-out is short so the test waits for it, not for a sleep.
	idp := liveIdP(t)
	cfg := Config{URL: idp.JWKSURL(), FetchTimeout: 200 * time.Millisecond, UnknownKIDInterval: time.Nanosecond}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	nextRefresh(t, evs)
	setJWKS(t, idp, jwtgatetest.Behavior{Hang: true})
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
	mustRead(t, c, kidOf(t, idp, ""))
}

func TestConditionalRequestsETagAnd304(t *testing.T) {
	idp := liveIdP(t)
	a := kidOf(t, idp, "")
	setJWKS(t, idp, jwtgatetest.Behavior{ETag: `"v1"`, CacheControl: "max-age=600"})
	now := jwtgatetest.NewClock(time.Time{})
	cfg := Config{URL: idp.JWKSURL(), UnknownKIDInterval: time.Nanosecond, now: now.Now}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	nextRefresh(t, evs)
	first := c.Status()
	if want := now.Now().Add(600 * time.Second); !first.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v (max-age)", first.ExpiresAt, want)
	}

	now.Advance(5 * time.Minute)
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
	if s := idp.Stats(); s.JWKSConditional != 1 || s.JWKSNotModified != 1 {
		t.Fatalf("provider saw %d conditional requests, sent %d 304s; want 1, 1", s.JWKSConditional, s.JWKSNotModified)
	}
	mustRead(t, c, a)

	// A new ETag with new content replaces the set.
	b := rotate(t, idp)
	remove(t, idp, a)
	setJWKS(t, idp, jwtgatetest.Behavior{ETag: `"v2"`, CacheControl: "max-age=600"})
	now.Advance(time.Second) // past UnknownKIDInterval
	mustRead(t, c, b)
	if c.Generation() != first.Generation+1 {
		t.Fatalf("generation %d, want %d", c.Generation(), first.Generation+1)
	}
}

func TestConditionalRequestsLastModified(t *testing.T) {
	// Last-Modified alone: no ETag, so the 304 can only come from
	// If-Modified-Since.
	idp := liveIdP(t)
	setJWKS(t, idp, jwtgatetest.Behavior{Body: jwks(publishedJWKs(t, idp)...), LastModified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	cfg := Config{URL: idp.JWKSURL(), UnknownKIDInterval: time.Nanosecond}
	evs := observeRefreshes(&cfg)
	c := newTestCache(t, cfg)
	nextRefresh(t, evs)
	c.KeyRead(context.Background(), "x")
	if ev := nextRefresh(t, evs); ev.Outcome != OutcomeNotModified || idp.Stats().JWKSNotModified != 1 {
		t.Fatalf("outcome %s, stats %+v", ev.Outcome, idp.Stats())
	}
}

func TestConcurrentReadsOfANewKIDShareOneRefreshAndAllFindIt(t *testing.T) {
	idp := liveIdP(t)
	// Over real sockets the set must not be authoritative for b right
	// after the load: the interval is all but zero.
	c := newTestCache(t, Config{URL: idp.JWKSURL(), WaitForFirstLoad: true, UnknownKIDInterval: time.Nanosecond})
	before := fetches(idp)
	// The provider publishes b; 1,000 requests carrying kid b arrive together.
	b := rotate(t, idp)
	var wg sync.WaitGroup
	var found atomic.Int32
	start := make(chan struct{})
	for range 1000 {
		wg.Go(func() {
			<-start
			if _, err := c.KeyRead(context.Background(), b); err == nil {
				found.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := fetches(idp) - before; got != 1 {
		t.Fatalf("%d fetches, want exactly 1", got)
	}
	// Readers that arrived after the refresh finished hit the new set directly;
	// none may have been turned away while it ran.
	if found.Load() != 1000 {
		t.Fatalf("%d of 1000 readers found the new key", found.Load())
	}
}

// An unknown kid answered from an authoritative set allocates nothing.
func TestKeyReadUnknownKIDFromAFreshSetAllocatesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := c.KeyRead(ctx, "unknown"); !errors.Is(err, jwkset.ErrKeyNotFound) {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("unknown-kid miss: %v allocations, want 0", allocs)
		}
		if n := fetches(idp); n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
	})
}

func TestEmptyKIDNeverTriggersRefresh(t *testing.T) {
	idp := liveIdP(t)
	c := newTestCache(t, Config{URL: idp.JWKSURL(), WaitForFirstLoad: true, UnknownKIDInterval: time.Nanosecond})
	before := fetches(idp)
	if _, err := c.KeyRead(context.Background(), ""); !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("err = %v", err)
	}
	if fetches(idp) != before {
		t.Fatal("an empty kid caused a fetch")
	}
}

func TestKeysUnavailableBeforeFirstLoad(t *testing.T) {
	idp := liveIdP(t)
	setJWKS(t, idp, jwtgatetest.Behavior{Status: http.StatusServiceUnavailable})
	cfg := Config{URL: idp.JWKSURL()}
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
	idp := liveIdP(t, "RS256")
	a := kidOf(t, idp, "")
	c := newTestCache(t, Config{URL: idp.JWKSURL(), WaitForFirstLoad: true})
	ctx := context.Background()
	k := mustRead(t, c, a)
	if err := c.KeyWrite(ctx, k); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("KeyWrite: %v", err)
	}
	if _, err := c.KeyDelete(ctx, a); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("KeyDelete: %v", err)
	}
	if err := c.KeyReplaceAll(ctx, nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("KeyReplaceAll: %v", err)
	}
	mustRead(t, c, a)
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
		if err != nil || ps.byKID[a].Marshal().N == "" {
			t.Fatalf("%s does not round-trip: %v %s", name, err, b)
		}
		if strings.Contains(string(b), `"d"`) {
			t.Fatalf("%s leaks private material", name)
		}
	}
	m, err := c.Marshal(ctx)
	if err != nil || len(m.Keys) != 1 || m.Keys[0].KID != a {
		t.Fatalf("Marshal: %v %+v", err, m)
	}
	all, err := c.KeyReadAll(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("KeyReadAll: %v %d", err, len(all))
	}
}

func TestKeyReadHitAllocatesNothing(t *testing.T) {
	idp := liveIdP(t)
	a := kidOf(t, idp, "")
	c := newTestCache(t, Config{URL: idp.JWKSURL(), WaitForFirstLoad: true})
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.KeyRead(ctx, a); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("KeyRead hit: %v allocations, want 0", allocs)
	}
}

func TestSkippedKeysAreLoggedWithReason(t *testing.T) {
	var logs logBuffer
	// The oct key is hand-written: the kit publishes no symmetric keys.
	idp := liveIdP(t, "RS256")
	a := kidOf(t, idp, "")
	setJWKS(t, idp, jwtgatetest.Behavior{Body: jwks(append(publishedJWKs(t, idp), []byte(`{"kty":"oct","kid":"hmac","k":"AA"}`))...)})
	c := newTestCache(t, Config{URL: idp.JWKSURL(), WaitForFirstLoad: true, Logger: logs.logger()})
	st := c.Status()
	if len(st.Keys) != 1 || len(st.Skipped) != 1 || st.Skipped[0].KID != "hmac" {
		t.Fatalf("status keys %+v skipped %+v", st.Keys, st.Skipped)
	}
	if st.Keys[0].Bits != 2048 || st.Keys[0].KID != a || st.Keys[0].ALG != "RS256" {
		t.Fatalf("key info %+v", st.Keys[0])
	}
	out := logs.String()
	if !strings.Contains(out, "skipping unusable key") || !strings.Contains(out, "kid=hmac") || !strings.Contains(out, `unsupported kty`) {
		t.Fatalf("log lacks the skip line:\n%s", out)
	}
}
