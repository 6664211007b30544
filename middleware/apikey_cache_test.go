package middleware

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// versionedKeys is a fakeKeys that says when its keys change
// (APIKeyVersioner), as package apikey's Store does; reusable false is a
// store with a remote source.
type versionedKeys struct {
	fakeKeys
	version  atomic.Uint64
	reusable bool
}

func (f *versionedKeys) APIKeyVersion() (uint64, bool) { return f.version.Load(), f.reusable }

func newVersionedKeys(sub string, exp time.Time) *versionedKeys {
	f := &versionedKeys{reusable: true}
	f.prefix = "jg_"
	f.keys = map[string]*APIKey{"jg_key-1": {ID: "k1", Subject: sub, Scopes: []string{"read"}, ExpiresAt: exp}}
	return f
}

func keyReq(key string) *http.Request {
	r := bearerReq("")
	r.Header.Set("X-Api-Key", key)
	return r
}

func TestAPIKeyCachedUntilStoreVersionMoves(t *testing.T) {
	keys := newVersionedKeys("svc", time.Time{})
	var events []VerifyEvent
	v := credVerifier(t, Route{APIKeys: keys, Scopes: []string{"read"}}, func(c *Config) {
		c.OnVerify = func(e VerifyEvent) { events = append(events, e) }
	})
	for i, r := range []*http.Request{keyReq("jg_key-1"), keyReq("jg_key-1"), bearerReq("jg_key-1")} {
		if res := do(v.Handler(okHandler), r); res.status != http.StatusOK || res.body != "hello svc" {
			t.Fatalf("use %d: %+v", i, res)
		}
	}
	if n := keys.calls.Load(); n != 1 {
		t.Fatalf("store asked %d times for three uses, want 1", n)
	}
	if events[0].CacheHit || !events[1].CacheHit || !events[2].CacheHit || events[2].Kind != CredentialAPIKey || events[2].Alg != "" {
		t.Errorf("events %+v", events)
	}
	// Revoked: the store reloads without the key and moves its version.
	delete(keys.keys, "jg_key-1")
	keys.version.Add(1)
	events = nil
	if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.status != http.StatusUnauthorized {
		t.Errorf("revoked key after the reload: %+v", res)
	}
	if len(events) != 1 || events[0].CacheHit || keys.calls.Load() != 2 {
		t.Errorf("revoked key: events %+v, %d calls; want the store asked, no hit", events, keys.calls.Load())
	}
}

func TestAPIKeyCacheEndsAtKeyExpiry(t *testing.T) {
	now := testNow
	keys := newVersionedKeys("svc", testNow.Add(30*time.Second))
	v := credVerifier(t, Route{APIKeys: keys}, func(c *Config) { c.Now = func() time.Time { return now } })
	for range 2 {
		if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.status != http.StatusOK {
			t.Fatal(res)
		}
	}
	now = testNow.Add(30*time.Second - 1)
	if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.status != http.StatusOK || keys.calls.Load() != 1 {
		t.Fatalf("before expiry: %+v, %d calls", res, keys.calls.Load())
	}
	now = testNow.Add(30 * time.Second)
	if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.status != http.StatusUnauthorized || res.www != wwwInvalid("token expired") || keys.calls.Load() != 2 {
		t.Errorf("at expiry: %+v, %d calls; want expired after asking the store", res, keys.calls.Load())
	}
}

func TestAPIKeyCacheEndsAtMaxAge(t *testing.T) {
	now := testNow
	keys := newVersionedKeys("svc", time.Time{})
	v := credVerifier(t, Route{APIKeys: keys}, func(c *Config) {
		c.Now = func() time.Time { return now }
		c.TokenCacheMaxAge = time.Minute
	})
	for range 2 {
		if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.status != http.StatusOK {
			t.Fatal(res)
		}
	}
	delete(keys.keys, "jg_key-1") // no version change: only MaxAge ends the entry
	now = testNow.Add(time.Minute - 1)
	if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.status != http.StatusOK {
		t.Fatalf("before MaxAge: %+v", res)
	}
	now = testNow.Add(time.Minute)
	if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.status != http.StatusUnauthorized || keys.calls.Load() != 2 {
		t.Errorf("at MaxAge: %+v, %d calls", res, keys.calls.Load())
	}
}

// Done when: a key cached for a route with store S never answers on a
// route with another store, nor on one whose order excludes api_key.
func TestAPIKeyEntryBoundToStore(t *testing.T) {
	a, b := newVersionedKeys("from-a", time.Time{}), newVersionedKeys("from-b", time.Time{})
	in := newUntilIntrospector(time.Minute)
	in.set("jg_key-1", activeAnswer("")) // the same string, as an opaque token
	var events []VerifyEvent
	v := credVerifier(t, Route{APIKeys: a}, func(c *Config) {
		c.OnVerify = func(e VerifyEvent) { events = append(events, e) }
	})
	onB := v.With(Route{APIKeys: b})
	jwtOnly := v.With(Route{APIKeys: a, Credentials: []CredentialKind{CredentialJWT}})
	introOnly := v.With(Route{APIKeys: a, Introspection: in, Credentials: []CredentialKind{CredentialIntrospection}})
	beforeJWT := do(jwtOnly.Handler(okHandler), bearerReq("jg_key-1"))
	for range 2 {
		if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.body != "hello from-a" {
			t.Fatalf("route A: %+v", res)
		}
	}
	if res := do(onB.Handler(okHandler), keyReq("jg_key-1")); res.body != "hello from-b" || b.calls.Load() != 1 {
		t.Errorf("route B: %+v, %d calls to B", res, b.calls.Load())
	}
	if res := do(jwtOnly.Handler(okHandler), bearerReq("jg_key-1")); res.status != beforeJWT.status || res.body != beforeJWT.body || res.status == http.StatusOK {
		t.Errorf("JWT-only route: %+v after, %+v before", res, beforeJWT)
	}
	if res := do(jwtOnly.Handler(okHandler), keyReq("jg_key-1")); res.status == http.StatusOK {
		t.Errorf("JWT-only route took the key header: %+v", res)
	}
	if res := do(introOnly.Handler(okHandler), bearerReq("jg_key-1")); res.body != "hello opaque-user" || in.calls.Load() != 1 {
		t.Errorf("introspection-only route: %+v, %d introspections", res, in.calls.Load())
	}
	if a.calls.Load() != 1 {
		t.Errorf("store A asked %d times", a.calls.Load())
	}
	// Events: the JWT-only route before, route A's miss and hit, then
	// every other route's answer, none of them a hit.
	if len(events) != 7 || !events[2].CacheHit {
		t.Fatalf("events %+v", events)
	}
	for i, e := range events {
		if e.CacheHit && i != 2 {
			t.Errorf("event %d was a hit: %+v", i, e)
		}
	}
}

// nonPointerKeys is an APIKeyVersioner that is not a pointer and not
// comparable: the Verifier must not compare it (that would panic), so it
// gets no verified-token cache.
type nonPointerKeys struct {
	in *versionedKeys
	_  []int
}

func (n nonPointerKeys) LookupAPIKey(ctx context.Context, key string) (*APIKey, error) {
	return n.in.LookupAPIKey(ctx, key)
}

func (n nonPointerKeys) APIKeyVersion() (uint64, bool) { return n.in.APIKeyVersion() }

func TestAPIKeyNotCached(t *testing.T) {
	for name, mk := range map[string]func() (APIKeyStore, *atomic.Int64, []func(*Config)){
		"store with a remote source (not reusable)": func() (APIKeyStore, *atomic.Int64, []func(*Config)) {
			k := newVersionedKeys("svc", time.Time{})
			k.reusable = false
			return k, &k.calls, nil
		},
		"store without a version": func() (APIKeyStore, *atomic.Int64, []func(*Config)) {
			k := newVersionedKeys("svc", time.Time{})
			return &k.fakeKeys, &k.fakeKeys.calls, nil
		},
		"store not a pointer": func() (APIKeyStore, *atomic.Int64, []func(*Config)) {
			k := newVersionedKeys("svc", time.Time{})
			return nonPointerKeys{in: k}, &k.calls, nil
		},
		"cache off": func() (APIKeyStore, *atomic.Int64, []func(*Config)) {
			k := newVersionedKeys("svc", time.Time{})
			return k, &k.calls, []func(*Config){func(c *Config) { c.TokenCacheSize = -1 }}
		},
	} {
		t.Run(name, func(t *testing.T) {
			store, calls, mut := mk()
			v := credVerifier(t, Route{APIKeys: store}, mut...)
			for range 3 {
				if res := do(v.Handler(okHandler), keyReq("jg_key-1")); res.status != http.StatusOK {
					t.Fatal(res)
				}
			}
			if n := calls.Load(); n != 3 {
				t.Errorf("store asked %d times for three uses, want 3", n)
			}
		})
	}
}
