package middleware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// versioned is a memory key set with a Generation counter that moves on
// every write, like cache.Cache's, and counts reads.
type versioned struct {
	jwkset.Storage
	gen   atomic.Uint64
	reads atomic.Int64
}

func (s *versioned) Generation() uint64 { return s.gen.Load() }
func (s *versioned) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	s.reads.Add(1)
	return s.Storage.KeyRead(ctx, kid)
}
func (s *versioned) KeyWrite(ctx context.Context, j jwkset.JWK) error {
	defer s.gen.Add(1)
	return s.Storage.KeyWrite(ctx, j)
}
func (s *versioned) KeyDelete(ctx context.Context, kid string) (bool, error) {
	defer s.gen.Add(1)
	return s.Storage.KeyDelete(ctx, kid)
}

func TestTokenCacheHitSkipsSignatureWork(t *testing.T) {
	k := keys(t)
	store := &versioned{Storage: memKeys(t)}
	v, err := New(baseConfig(store))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	ctx := context.Background()
	c1, hit, verr := v.verify(ctx, tok, nil)
	if verr != nil || hit {
		t.Fatalf("first: %v hit=%v", verr, hit)
	}
	for range 5 {
		c2, hit, verr := v.verify(ctx, tok, nil)
		if verr != nil || !hit || c2 != c1 {
			t.Fatalf("repeat: %v hit=%v same=%v", verr, hit, c2 == c1)
		}
	}
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d key reads, want 1 (hits under an unchanged generation read no key)", n)
	}
	// A different token (one byte of the signature) is not a hit.
	other := tok[:len(tok)-1] + "Q"
	if other == tok {
		other = tok[:len(tok)-1] + "A"
	}
	if _, hit, _ := v.verify(ctx, other, nil); hit {
		t.Fatal("a different token hit the cache")
	}
}

func TestTokenCacheKeyRemovalAndReplacement(t *testing.T) {
	k := keys(t)
	ctx := context.Background()
	for _, withGen := range []bool{true, false} {
		t.Run(fmt.Sprintf("generation=%v", withGen), func(t *testing.T) {
			vs := &versioned{Storage: memKeys(t)}
			var store jwkset.Storage = vs
			if !withGen {
				store = vs.Storage // plain memory storage: no Generation capability
			}
			v, err := New(baseConfig(store))
			if err != nil {
				t.Fatal(err)
			}
			tokRSA := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
			tokEC := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
			for _, tok := range []string{tokRSA, tokEC} {
				if _, err := v.Verify(ctx, tok); err != nil {
					t.Fatal(err)
				}
			}
			// An unrelated change: both still count.
			if err := store.KeyWrite(ctx, jwkOf(t, &k.ec2.PublicKey, "ec2", jwkset.AlgES256, jwkset.UseSig)); err != nil {
				t.Fatal(err)
			}
			for _, tok := range []string{tokRSA, tokEC} {
				if _, hit, err := v.verify(ctx, tok, nil); err != nil || !hit {
					t.Fatalf("after unrelated change: %v hit=%v", err, hit)
				}
			}
			// Remove rsa1: its token stops counting at once, though cached.
			if ok, err := store.KeyDelete(ctx, "rsa1"); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if _, err := v.Verify(ctx, tokRSA); !errors.Is(err, ErrUnknownKID) {
				t.Fatalf("token of a removed key: %v, want ErrUnknownKID", err)
			}
			// Replace ec1's material under the same kid: rejected too.
			if _, err := store.KeyDelete(ctx, "ec1"); err != nil {
				t.Fatal(err)
			}
			if err := store.KeyWrite(ctx, jwkOf(t, &k.ec2.PublicKey, "ec1", jwkset.AlgES256, jwkset.UseSig)); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, tokEC); !errors.Is(err, ErrSignatureInvalid) {
				t.Fatalf("token of a replaced key: %v, want ErrSignatureInvalid", err)
			}
		})
	}
}

func TestTokenCacheLifetime(t *testing.T) {
	k := keys(t)
	clk := jwtgatetest.NewClock(testNow)
	store := &versioned{Storage: memKeys(t)}
	cfg := baseConfig(store)
	cfg.Now = clk.Now
	cfg.TokenCacheMaxAge = time.Minute
	v, _ := New(cfg)
	ctx := context.Background()
	long := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims()) // exp in 1 h
	short := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "exp", testNow.Add(20*time.Second).Unix()))
	for _, tok := range []string{long, short} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(30 * time.Second) // past short's exp, within leeway
	if _, hit, err := v.verify(ctx, short, nil); err != nil || hit {
		t.Fatalf("short after exp: err=%v hit=%v; want a fresh verification (within leeway)", err, hit)
	}
	if _, hit, err := v.verify(ctx, long, nil); err != nil || !hit {
		t.Fatalf("long: err=%v hit=%v", err, hit)
	}
	clk.Advance(31 * time.Second) // past max age
	if _, hit, err := v.verify(ctx, long, nil); err != nil || hit {
		t.Fatalf("long after max age: err=%v hit=%v; want a fresh verification", err, hit)
	}
	clk.Advance(time.Hour)
	if _, err := v.Verify(ctx, long); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("long after exp: %v", err)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.TokenCacheSize = 32
	v, _ := New(cfg)
	ctx := context.Background()
	for i := range 300 {
		tok := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, with(goodClaims(), "jti", fmt.Sprint(i)))
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if n := v.TokenCacheLen(); n > 32 {
			t.Fatalf("cache holds %d entries, bound 32", n)
		}
	}
	if n := v.cache.len(); n < 16 {
		t.Fatalf("cache holds only %d entries", n)
	}
	cfg.TokenCacheSize = -1
	off, _ := New(cfg)
	tok := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, goodClaims())
	for range 2 {
		if _, hit, err := off.verify(ctx, tok, nil); err != nil || hit {
			t.Fatalf("cache off: %v hit=%v", err, hit)
		}
	}
}

// The cache hashes a token's tail (its signature): a forgery reusing a
// cached token's signature under another payload shares its slot but never
// its claims, and does not push the real token out.
func TestTokenCacheForgedTailGetsNoClaims(t *testing.T) {
	k := keys(t)
	var hits []bool
	cfg := baseConfig(memKeys(t))
	cfg.OnVerify = func(e VerifyEvent) { hits = append(hits, e.CacheHit) }
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	if got := do(h, bearerReq(tok)); got.status != 200 {
		t.Fatalf("real token: %d", got.status)
	}
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + b64(mustJSON(t, with(goodClaims(), "sub", "admin"))) + "." + parts[2]
	if hashed(forged) != hashed(tok) {
		t.Fatal("the forgery does not share the real token's hashed tail")
	}
	if got := do(h, bearerReq(forged)); got.status != 401 || got.www != wwwInvalid("signature invalid") {
		t.Fatalf("forged payload under a cached signature: %d %q", got.status, got.www)
	}
	if got := do(h, bearerReq(tok)); got.status != 200 || got.body != "hello user-1" {
		t.Fatalf("real token after the forgery: %d %q", got.status, got.body)
	}
	if len(hits) != 3 || hits[0] || hits[1] || !hits[2] {
		t.Fatalf("cache hits %v, want miss, miss, hit", hits)
	}
}
