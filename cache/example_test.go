package cache_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// A cache over a provider's JWKS endpoint, handed to keyfunc to verify a token.
func Example() {
	// A test identity provider on loopback publishing one ES256 key (in a
	// test: jwtgatetest.NewIssuer(t, …)).
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer idp.Close()
	_ = idp.SetJWKS(jwtgatetest.Behavior{CacheControl: "max-age=3600"})

	ctx := context.Background()
	c, err := cache.New(ctx, cache.Config{
		URL:              idp.JWKSURL(), // plain http is allowed for loopback only
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
	raw, err := idp.Sign(jwtgatetest.Claims{Subject: "alice"}, jwtgatetest.MintOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}

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
	a, errA := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	b, errB := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if errA != nil || errB != nil {
		fmt.Println(errA, errB)
		return
	}
	defer a.Close()
	defer b.Close()
	aKID, _ := a.KID("ES256")

	quiet := slog.New(slog.DiscardHandler)
	m, err := cache.NewMulti(context.Background(), []cache.Config{
		{Issuer: "https://login.a.example", URL: a.JWKSURL(), Logger: quiet}, // URL set: no discovery
		{Issuer: "https://login.b.example", URL: b.JWKSURL(), Logger: quiet},
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
		_, errA := storages[iss].KeyRead(ctx, aKID)
		fmt.Printf("%s ready=%v has a's key=%v\n", iss, m.Status()[iss].Ready, errA == nil)
	}
	// Output:
	// https://login.a.example ready=true has a's key=true
	// https://login.b.example ready=true has a's key=false
}
