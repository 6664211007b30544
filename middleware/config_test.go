package middleware

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/ratelimit"
)

func TestNewRejectsBadConfig(t *testing.T) {
	keys := jwkset.NewMemoryStorage()
	secret := []byte(strings.Repeat("s", 64))
	for name, cfg := range map[string]Config{
		"no keys":                      {},
		"none listed":                  {Keys: keys, Algorithms: []string{"RS256", "none"}},
		"NONE listed":                  {Keys: keys, Algorithms: []string{"NONE"}},
		"unknown alg":                  {Keys: keys, Algorithms: []string{"RS257"}},
		"HS256 without a secret":       {Keys: keys, Algorithms: []string{"HS256"}},
		"HS512 with a short secret":    {Algorithms: []string{"HS512"}, HMACSecret: secret[:48]},
		"secret without HS*":           {Keys: keys, HMACSecret: secret},
		"Keys and KeysByIssuer":        {Keys: keys, KeysByIssuer: map[string]jwkset.Storage{"i": keys}},
		"issuer with no key set":       {KeysByIssuer: map[string]jwkset.Storage{"a": keys}, Issuers: []string{"b"}},
		"nil storage for an issuer":    {KeysByIssuer: map[string]jwkset.Storage{"a": nil}},
		"negative MaxTokenSize":        {Keys: keys, MaxTokenSize: -1},
		"negative TokenCacheMaxAge":    {Keys: keys, TokenCacheMaxAge: -time.Second},
		"negative RetryAfter":          {Keys: keys, RetryAfter: -time.Second},
		"realm with a quote":           {Keys: keys, Realm: `a"b`},
		"claim header Authorization":   {Keys: keys, ClaimHeaders: map[string]string{"sub": "authorization"}},
		"tiers without a tier claim":   {Keys: keys, RateLimit: RateLimit{Tiers: map[string]ratelimit.Limiter{"free": nil}}},
		"negative MinRSABits":          {Keys: keys, MinRSABits: -1},
		"empty claim header name":      {Keys: keys, ClaimHeaders: map[string]string{"sub": ""}},
		"HeaderName Authorization":     {Keys: keys, HeaderName: "authorization"},
		"nowhere to read a token":      {Keys: keys, DisableAuthorizationHeader: true},
		"empty issuer in KeysByIssuer": {KeysByIssuer: map[string]jwkset.Storage{"": keys}},
	} {
		v, err := New(cfg)
		if err == nil || v != nil {
			t.Errorf("%s: New accepted it", name)
			continue
		}
		if !errors.Is(err, errConfig) || !strings.HasPrefix(err.Error(), "middleware: ") {
			t.Errorf("%s: error %q", name, err)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	v, err := New(Config{Keys: jwkset.NewMemoryStorage()})
	if err != nil {
		t.Fatal(err)
	}
	c := v.cfg
	if c.MaxTokenSize != 8192 || c.Leeway != 30*time.Second || c.TokenCacheMaxAge != 10*time.Minute ||
		c.Realm != "jwtgate" || c.RetryAfter != 5*time.Second || c.MinRSABits != 2048 || v.cache == nil ||
		v.cache.perShard*cacheShards < 10_000 || len(v.algs) != 11 || v.algs["HS256"] != nil || v.algs["Ed25519"] == nil {
		t.Fatalf("defaults: %+v", c)
	}
	v, _ = New(Config{Keys: jwkset.NewMemoryStorage(), Leeway: -1, TokenCacheSize: -1})
	if v.cfg.Leeway != 0 || v.cache != nil {
		t.Fatal("negative Leeway / TokenCacheSize")
	}
	// HS only, no key set needed.
	if _, err := New(Config{Algorithms: []string{"HS256"}, HMACSecret: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	// The Config is copied: later changes do not reach the Verifier.
	algs := []string{"RS256"}
	v, _ = New(Config{Keys: jwkset.NewMemoryStorage(), Algorithms: algs})
	algs[0] = "ES256"
	if v.algs["RS256"] == nil || v.algs["ES256"] != nil {
		t.Fatal("Algorithms not copied")
	}
}
