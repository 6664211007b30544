package middleware

import (
	"context"
	"testing"
	"time"
)

// FuzzFirstMatch: whatever the bearer credential, at most one kind looks at
// it (a refused credential is never retried as another), a JWS-shaped one
// never reaches introspection or the key store, and nothing panics.
func FuzzFirstMatch(f *testing.F) {
	for _, s := range []string{"", "eyJ.a.b", "eyJhbGciOiJFUzI1NiJ9.e30.sig", "eyJ.a.b.c", "sk-abc", "opaque", "a.b.c",
		"eyJ", "sk-eyJ.a.b", " ", "\x00", "eyJ..", "sk-"} {
		f.Add(s)
	}
	in := &fakeIntrospector{}
	ks := &fakeKeys{prefix: "sk-", keys: map[string]*APIKey{"sk-good": {Subject: "svc"}}}
	cfg := baseConfig(memKeys(f))
	v, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	rt := v.With(Route{Introspection: in, APIKeys: ks,
		Credentials: []CredentialKind{CredentialJWT, CredentialAPIKey, CredentialIntrospection}})
	f.Fuzz(func(t *testing.T, tok string) {
		i0, k0 := in.calls.Load(), ks.calls.Load()
		c, _, kind, err := rt.verifyCredential(context.Background(), credential{token: tok}, time.Now(), nil)
		di, dk := in.calls.Load()-i0, ks.calls.Load()-k0
		if di+dk > 1 {
			t.Fatalf("%q: introspected %d times and looked up %d times", tok, di, dk)
		}
		if looksLikeJWS(tok) && di+dk != 0 {
			t.Fatalf("%q: a JWS went to another kind", tok)
		}
		if (err == nil) != (c != nil) {
			t.Fatalf("%q: claims %v with error %v", tok, c, err)
		}
		if err == nil && c.Kind() != kind {
			t.Fatalf("%q: claims of kind %v, decided by %v", tok, c.Kind(), kind)
		}
	})
}
