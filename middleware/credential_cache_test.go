package middleware

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// untilIntrospector is an IntrospectorAt whose answers say until when they
// may be reused (maxAge after the caller's reading), as package
// introspect's Client does; revoked tokens are inactive.
type untilIntrospector struct {
	fakeIntrospector
	maxAge time.Duration
}

func (a *untilIntrospector) IntrospectAt(ctx context.Context, token string, now time.Time) (*IntrospectionResult, error) {
	res, err := a.Introspect(ctx, token)
	if err != nil {
		return nil, err
	}
	return NewIntrospectionResultUntil(res.Endpoint(), res.Raw(), now.Add(a.maxAge)), nil
}

// valueIntrospector is an IntrospectorAt that is not a pointer, and not
// comparable: the Verifier must not compare it (that would panic), so it
// gets no verified-token cache.
type valueIntrospector struct {
	in    *untilIntrospector
	_     []int // not comparable
	calls *atomic.Int64
}

func (v valueIntrospector) Introspect(ctx context.Context, token string) (*IntrospectionResult, error) {
	v.calls.Add(1)
	return v.in.IntrospectAt(ctx, token, testNow)
}

func (v valueIntrospector) IntrospectAt(ctx context.Context, token string, now time.Time) (*IntrospectionResult, error) {
	v.calls.Add(1)
	return v.in.IntrospectAt(ctx, token, now)
}

func newUntilIntrospector(maxAge time.Duration) *untilIntrospector {
	in := &untilIntrospector{maxAge: maxAge}
	in.set("opaque-1", activeAnswer(""))
	return in
}

func TestIntrospectedTokenCachedUntilIntrospectorsUntil(t *testing.T) {
	now := testNow
	in := newUntilIntrospector(time.Minute)
	v := credVerifier(t, Route{Introspection: in}, func(c *Config) { c.Now = func() time.Time { return now } })
	for i := range 3 {
		c, err := v.Verify(context.Background(), "opaque-1")
		if err != nil || c.Subject != "opaque-user" || c.Kind() != CredentialIntrospection {
			t.Fatalf("use %d: %v %v", i, c, err)
		}
	}
	if n := in.calls.Load(); n != 1 {
		t.Fatalf("Introspector asked %d times for three uses, want 1", n)
	}
	in.mu.Lock()
	delete(in.answers, "opaque-1") // revoked: inactive from now on
	in.mu.Unlock()
	now = testNow.Add(time.Minute - 1)
	if _, err := v.Verify(context.Background(), "opaque-1"); err != nil {
		t.Fatalf("before until: %v", err)
	}
	now = testNow.Add(time.Minute)
	if _, err := v.Verify(context.Background(), "opaque-1"); err == nil || in.calls.Load() != 2 {
		t.Errorf("at until: %v, %d calls; want refused after asking again", err, in.calls.Load())
	}
}

func TestIntrospectedTokenNotCachedWithoutUntil(t *testing.T) {
	for name, rt := range map[string]func() (Route, *atomic.Int64){
		"no Until (NewIntrospectionResult)": func() (Route, *atomic.Int64) {
			in := &fakeIntrospector{}
			in.set("opaque-1", activeAnswer(""))
			return Route{Introspection: in}, &in.calls
		},
		"not an IntrospectorAt": func() (Route, *atomic.Int64) {
			in := &fakeIntrospector{}
			in.set("opaque-1", activeAnswer(""))
			type plain struct{ Introspector }
			return Route{Introspection: &plain{in}}, &in.calls
		},
		"not a pointer": func() (Route, *atomic.Int64) {
			n := new(atomic.Int64)
			return Route{Introspection: valueIntrospector{in: newUntilIntrospector(time.Minute), calls: n}}, n
		},
	} {
		t.Run(name, func(t *testing.T) {
			route, calls := rt()
			v := credVerifier(t, route)
			for range 3 {
				if _, err := v.Verify(context.Background(), "opaque-1"); err != nil {
					t.Fatal(err)
				}
			}
			if calls.Load() != 3 {
				t.Errorf("Introspector asked %d times, want 3 (no verified-token cache)", calls.Load())
			}
		})
	}
	t.Run("cache off", func(t *testing.T) {
		in := newUntilIntrospector(time.Minute)
		v := credVerifier(t, Route{Introspection: in}, func(c *Config) { c.TokenCacheSize = -1 })
		for range 2 {
			if _, err := v.Verify(context.Background(), "opaque-1"); err != nil {
				t.Fatal(err)
			}
		}
		if in.calls.Load() != 2 {
			t.Errorf("asked %d times", in.calls.Load())
		}
	})
}

// The entry ends at the answer's exp (with the leeway) when that comes
// before the Introspector's until, and a claim refused (a foreign aud) is
// never cached.
func TestIntrospectedTokenCacheBounds(t *testing.T) {
	now := testNow
	in := newUntilIntrospector(time.Hour)
	in.set("short", `{"active":true,"sub":"u","aud":"api","exp":`+itoa(testNow.Add(time.Minute).Unix())+`}`)
	in.set("foreign", `{"active":true,"sub":"u","aud":"billing"}`)
	v := credVerifier(t, Route{Introspection: in}, func(c *Config) { c.Now = func() time.Time { return now } })
	if _, err := v.Verify(context.Background(), "short"); err != nil {
		t.Fatal(err)
	}
	now = testNow.Add(time.Minute + v.cfg.Leeway)
	if _, err := v.Verify(context.Background(), "short"); err == nil {
		t.Error("accepted at exp + leeway")
	}
	for range 2 {
		if _, err := v.Verify(context.Background(), "foreign"); err == nil {
			t.Fatal("foreign aud accepted")
		}
	}
	if n := v.TokenCacheLen(); n != 0 {
		t.Errorf("%d entries cached, want 0", n)
	}
}

// With the doorkeeper an opaque token is cached on its second sighting,
// as a JWT is.
func TestIntrospectedTokenDoorkeeper(t *testing.T) {
	in := newUntilIntrospector(time.Minute)
	v := credVerifier(t, Route{Introspection: in}, func(c *Config) { c.TokenCacheDoorkeeper = true })
	for range 4 {
		if _, err := v.Verify(context.Background(), "opaque-1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := in.calls.Load(); n != 2 {
		t.Errorf("asked %d times for four uses, want 2 (cached on the second)", n)
	}
}

// Over HTTP a verified-token cache hit for an opaque token reports
// CacheHit, Kind introspection and no alg; a JWT-only route given that
// token answers as it did before (never a JWT cache hit).
func TestIntrospectedTokenHitOverHTTP(t *testing.T) {
	in := newUntilIntrospector(time.Minute)
	var events []VerifyEvent
	v := credVerifier(t, Route{Introspection: in, Scopes: []string{"read"}}, func(c *Config) {
		c.OnVerify = func(e VerifyEvent) { events = append(events, e) }
	})
	jwtOnly := v.With(Route{Credentials: []CredentialKind{CredentialJWT}})
	before := do(jwtOnly.Handler(okHandler), bearerReq("opaque-1"))
	for range 2 {
		if res := do(v.Handler(okHandler), bearerReq("opaque-1")); res.status != http.StatusOK {
			t.Fatalf("%+v", res)
		}
	}
	after := do(jwtOnly.Handler(okHandler), bearerReq("opaque-1"))
	if after.status != before.status || after.body != before.body || after.status == http.StatusOK {
		t.Errorf("JWT-only route: %d %q after, %d %q before", after.status, after.body, before.status, before.body)
	}
	if len(events) != 4 {
		t.Fatalf("%d events", len(events))
	}
	if e := events[2]; !e.CacheHit || e.Kind != CredentialIntrospection || e.Alg != "" || e.Reason != "ok" {
		t.Errorf("hit event %+v", e)
	}
	if e := events[1]; e.CacheHit {
		t.Errorf("first use reported a hit: %+v", e)
	}
	if e := events[3]; e.CacheHit || e.Kind != CredentialJWT {
		t.Errorf("JWT-only route's event after: %+v", e)
	}
}
