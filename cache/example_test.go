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
