package introspect_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// lookups counts the look-ups that reach a Client (OnIntrospect), by
// result: a request the Verifier's verified-token cache answers is not one.
type lookups struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *lookups) on(e introspect.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = map[string]int{}
	}
	l.n[e.Result]++
}

func (l *lookups) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.n {
		n += c
	}
	return n
}

// A repeated opaque token is answered by the Verifier's verified-token
// cache: the Client is not asked again (so its SHA-256 is not paid).
func TestRepeatedOpaqueTokenIsATokenCacheHit(t *testing.T) {
	var l lookups
	var hits []bool
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{OnIntrospect: l.on}, func(c *middleware.Config) {
		c.OnVerify = func(e middleware.VerifyEvent) { hits = append(hits, e.CacheHit) }
	})
	tok := w.srv.Issue(t, jwtgatetest.Claims{Subject: "alice"})
	for range 3 {
		if a := w.do(w.route, tok); a.status != 200 || a.sub != "alice" {
			t.Fatalf("%+v", a)
		}
	}
	if n := l.total(); n != 1 {
		t.Errorf("%d look-ups reached the Client for three uses of one token, want 1", n)
	}
	if want := []bool{false, true, true}; !equalBools(hits, want) {
		t.Errorf("CacheHit %v, want %v", hits, want)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Done when (issue 22, the oathkeeper CVE-2026-33496 pattern, through the
// verified-token cache): a token introspected on a route bound to endpoint
// A, then presented on a route bound to endpoint B (same Verifier, so the
// same verified-token cache), is decided by B: B is asked and its answer
// decides, both when B says active with other claims and when B says not
// active.
func TestTokenCacheEntryBoundToEndpoint(t *testing.T) {
	for name, bAnswer := range map[string]string{
		"B active, other subject": `{"active":true,"sub":"bob","aud":"api"}`,
		"B inactive":              `{"active":false}`,
	} {
		t.Run(name, func(t *testing.T) {
			var la, lb lookups
			a := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{OnIntrospect: la.on})
			b := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
			icB, err := introspect.New(introspect.Config{Endpoint: b.URL(), Logger: quiet, OnIntrospect: lb.on})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { icB.Close() })
			routeB := a.v.With(middleware.Route{Introspection: icB})

			tok := a.srv.Issue(t, jwtgatetest.Claims{Subject: "alice", Issuer: a.srv.Issuer()})
			b.SetAnswer(tok, []byte(bAnswer))
			for range 2 {
				if got := a.do(a.route, tok); got.status != 200 || got.sub != "alice" {
					t.Fatalf("route A: %+v", got)
				}
			}
			if la.total() != 1 {
				t.Fatalf("route A asked its Client %d times, want 1 (the second use a token-cache hit)", la.total())
			}
			got := a.do(routeB, tok)
			if b.Requests() != 1 || lb.total() != 1 {
				t.Errorf("endpoint B asked %d times (%d look-ups), want 1: B's route must ask B", b.Requests(), lb.total())
			}
			if strings.Contains(bAnswer, `"active":true`) {
				if got.status != 200 || got.sub != "bob" {
					t.Errorf("route B: %+v, want 200 with B's subject bob", got)
				}
			} else if got.status != 401 || !strings.Contains(got.body, "token not active") {
				t.Errorf("route B accepted A's token: %d %s", got.status, got.body)
			}
			// And A's route is still decided by A.
			if got := a.do(a.route, tok); got.status != 200 || got.sub != "alice" {
				t.Errorf("route A after B: %+v", got)
			}
			if a.srv.Requests() != 1 {
				t.Errorf("endpoint A asked %d times, want 1 (its own cache)", a.srv.Requests())
			}
		})
	}
}

// Done when (issue 22): expiry and revocation timing are unchanged by the
// verified-token cache. On the Verifier's clock (which the Client reads
// through IntrospectAt), a hit lasts until just before MaxAge; at MaxAge
// the endpoint is asked again and a revoked token is refused.
func TestTokenCacheHitEndsAtMaxAge(t *testing.T) {
	clock := jwtgatetest.NewClock(time.Now())
	var l lookups
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{MaxAge: time.Minute, OnIntrospect: l.on}, func(c *middleware.Config) {
		c.Now = clock.Now
	})
	tok := w.srv.Issue(t, jwtgatetest.Claims{})
	if a := w.do(w.route, tok); a.status != 200 {
		t.Fatalf("%+v", a)
	}
	w.srv.Revoke(tok)
	clock.Advance(time.Minute - time.Nanosecond)
	if a := w.do(w.route, tok); a.status != 200 {
		t.Fatalf("cached answer before MaxAge: %+v", a)
	}
	if l.total() != 1 || w.srv.Requests() != 1 {
		t.Fatalf("%d look-ups, %d requests before MaxAge, want 1 and 1", l.total(), w.srv.Requests())
	}
	clock.Advance(time.Nanosecond)
	if a := w.do(w.route, tok); a.status != 401 || !strings.Contains(a.body, "token not active") {
		t.Errorf("revoked token at MaxAge: %+v", a)
	}
	if w.srv.Requests() != 2 {
		t.Errorf("endpoint asked %d times, want 2: at MaxAge it must be asked again", w.srv.Requests())
	}
}

// The answer's exp ends the hit when it comes before MaxAge.
func TestTokenCacheHitEndsAtExp(t *testing.T) {
	clock := jwtgatetest.NewClock(time.Now())
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{MaxAge: time.Hour}, func(c *middleware.Config) {
		c.Now, c.Leeway = clock.Now, -1
	})
	exp := clock.Now().Add(30 * time.Second).Truncate(time.Second)
	tok := w.srv.Issue(t, jwtgatetest.Claims{ExpiresAt: exp})
	if a := w.do(w.route, tok); a.status != 200 {
		t.Fatalf("%+v", a)
	}
	clock.Advance(exp.Sub(clock.Now()))
	if a := w.do(w.route, tok); a.status != 401 || !strings.Contains(a.body, "token expired") {
		t.Errorf("at exp: %+v", a)
	}
}

// An inactive answer never enters the verified-token cache: with no
// negative cache, every use asks the endpoint.
func TestInactiveAnswerNotInTokenCache(t *testing.T) {
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{NegativeMaxAge: -1})
	w.srv.SetAnswer("gone", []byte(`{"active":false}`))
	for range 3 {
		if a := w.do(w.route, "gone"); a.status != 401 {
			t.Fatalf("%+v", a)
		}
	}
	if n := w.v.TokenCacheLen(); n != 0 {
		t.Errorf("token cache holds %d entries after inactive answers", n)
	}
	if w.srv.Requests() != 3 {
		t.Errorf("endpoint asked %d times, want 3", w.srv.Requests())
	}
}

// A Client with a clock of its own (Config.Now) hands out no Until: the
// Verifier's clock may differ from it, so every request goes to the Client
// and its own cache decides (as TestRevokedTokenRefusedAfterMaxAge shows).
func TestClientWithOwnClockGivesNoUntil(t *testing.T) {
	srv := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
	clock := jwtgatetest.NewClock(time.Now())
	for name, cfg := range map[string]introspect.Config{
		"own clock":     {Endpoint: srv.URL(), Logger: quiet, Now: clock.Now, MaxAge: time.Minute},
		"caller's time": {Endpoint: srv.URL(), Logger: quiet, MaxAge: time.Minute},
	} {
		ic, err := introspect.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ic.Close() })
		tok := srv.Issue(t, jwtgatetest.Claims{})
		now := clock.Now()
		res, err := ic.IntrospectAt(context.Background(), tok, now)
		if err != nil {
			t.Fatal(err)
		}
		switch name {
		case "own clock":
			if !res.Until().IsZero() {
				t.Errorf("%s: Until %v, want zero", name, res.Until())
			}
		default:
			if want := now.Add(time.Minute); !res.Until().Equal(want) {
				t.Errorf("%s: Until %v, want %v (the look-up's reading + MaxAge)", name, res.Until(), want)
			}
		}
	}
}

// Done when (issue 22): the credential order is unchanged by the
// verified-token cache. An opaque token introspected (and cached) on one
// route gets, on a route whose order has no introspection, exactly the
// answer it got there before; so does the Verify path.
func TestIntrospectedEntryNotUsedByOtherKinds(t *testing.T) {
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{})
	_, rec, err := apikey.Mint("jg_", apikey.Record{Subject: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := apikey.New(apikey.Config{Records: []apikey.Record{rec}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	routes := map[string]*middleware.Verifier{
		"jwt only":           w.v.With(middleware.Route{}),
		"api_key only":       w.v.With(middleware.Route{APIKeys: keys, Credentials: []middleware.CredentialKind{middleware.CredentialAPIKey}}),
		"jwt, api_key":       w.v.With(middleware.Route{APIKeys: keys, Introspection: w.ic, Credentials: []middleware.CredentialKind{middleware.CredentialJWT, middleware.CredentialAPIKey}}),
		"api_key, jwt (nil)": w.v.With(middleware.Route{APIKeys: keys}),
	}
	tok := w.srv.Issue(t, jwtgatetest.Claims{Subject: "alice"})
	before := map[string]answer{}
	verifyBefore := map[string]string{}
	for name, rt := range routes {
		before[name] = w.do(rt, tok)
		if before[name].status == 200 {
			t.Fatalf("%s accepted an opaque token before: %+v", name, before[name])
		}
		_, err := rt.Verify(context.Background(), tok)
		verifyBefore[name] = errString(err)
	}
	for range 2 {
		if a := w.do(w.route, tok); a.status != 200 {
			t.Fatalf("introspection route: %+v", a)
		}
	}
	if n := w.v.TokenCacheLen(); n != 1 {
		t.Fatalf("token cache holds %d entries, want the introspected token's", n)
	}
	for name, rt := range routes {
		got := w.do(rt, tok)
		if got.status != before[name].status || got.body != before[name].body ||
			got.header.Get("WWW-Authenticate") != before[name].header.Get("WWW-Authenticate") {
			t.Errorf("%s: after the token was introspected elsewhere %d %q, before %d %q", name,
				got.status, got.body, before[name].status, before[name].body)
		}
		if _, err := rt.Verify(context.Background(), tok); errString(err) != verifyBefore[name] {
			t.Errorf("%s Verify: %v, before %s", name, err, verifyBefore[name])
		}
	}
	if w.srv.Requests() != 1 {
		t.Errorf("endpoint asked %d times, want 1: no other route's order reaches introspection", w.srv.Requests())
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
