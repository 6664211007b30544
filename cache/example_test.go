package cache_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/cache"
)

// A cache over a provider's JWKS endpoint, handed to keyfunc to verify a token.
func Example() {
	// A demo identity provider publishing one ES256 key.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: "key-1", ALG: jwkset.AlgES256, USE: jwkset.UseSig},
	})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	}))
	defer idp.Close()

	ctx := context.Background()
	c, err := cache.New(ctx, cache.Config{
		URL:              idp.URL, // plain http is allowed for loopback only
		WaitForFirstLoad: true,
		Logger:           slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	kf, err := keyfunc.New(keyfunc.Options{Storage: c})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "key-1"
	raw, _ := tok.SignedString(key)

	parsed, err := jwt.Parse(raw, kf.Keyfunc)
	if err != nil {
		fmt.Println(err)
		return
	}
	sub, _ := parsed.Claims.GetSubject()
	fmt.Println("valid:", parsed.Valid, "sub:", sub, "ready:", c.Ready(), "generation:", c.Generation())
	// Output: valid: true sub: alice ready: true generation: 1
}

// Several providers, one cache each, keyed by issuer: the shape the
// middleware's KeysByIssuer takes.
func ExampleNewMulti() {
	serveSet := func(kid string) *httptest.Server {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		jwk, _ := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256},
		})
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
		}))
	}
	a, b := serveSet("a-1"), serveSet("b-1")
	defer a.Close()
	defer b.Close()

	quiet := slog.New(slog.DiscardHandler)
	m, err := cache.NewMulti(context.Background(), []cache.Config{
		{Issuer: "https://login.a.example", URL: a.URL, Logger: quiet}, // URL set: no discovery
		{Issuer: "https://login.b.example", URL: b.URL, Logger: quiet},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		fmt.Println(err)
		return
	}
	storages := m.Storages() // issuer → jwkset.Storage
	for _, iss := range m.Issuers() {
		_, errA := storages[iss].KeyRead(ctx, "a-1")
		fmt.Printf("%s ready=%v has a-1=%v\n", iss, m.Status()[iss].Ready, errA == nil)
	}
	// Output:
	// https://login.a.example ready=true has a-1=true
	// https://login.b.example ready=true has a-1=false
}
