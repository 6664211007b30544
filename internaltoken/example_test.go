package internaltoken_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internaltoken"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

type exampleTB struct{ cleanups []func() }

func (*exampleTB) Helper()                           {}
func (e *exampleTB) Cleanup(f func())                { e.cleanups = append(e.cleanups, f) }
func (*exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) done() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func Example() {
	t := &exampleTB{}
	defer t.done()
	dir, _ := os.MkdirTemp("", "keys")
	defer os.RemoveAll(dir)
	writeKey(nil, dir, "2026-01.pem", "ES256")

	// The gateway: its key ring, published on its listener.
	ring, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Dir: dir})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	gw := httptest.NewServer(mux)
	defer gw.Close()
	mux.Handle(internaltoken.JWKSPath, ring.JWKSHandler())
	mux.Handle(internaltoken.DiscoveryPath, ring.DiscoveryHandler(gw.URL))
	tr, err := internaltoken.New(internaltoken.Config{Keys: ring, Issuer: gw.URL, Audience: []string{"orders"}, Claims: []string{"sub"}})
	if err != nil {
		panic(err)
	}

	// The client's verified token, as the gateway's Verifier saw it.
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	edge, _ := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	claims, err := edge.Verify(context.Background(), idp.Mint(t, jwtgatetest.Claims{Subject: "alice"}))
	if err != nil {
		panic(err)
	}
	internal, err := tr.Sign(claims)
	if err != nil {
		panic(err)
	}

	// The service behind the gateway: jwtgate's own middleware, keys
	// found by discovery from the gateway's issuer.
	keys, err := cache.New(context.Background(), cache.Config{Issuer: gw.URL, WaitForFirstLoad: true})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	svc, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{gw.URL}, Audiences: []string{"orders"}})
	c, err := svc.Verify(context.Background(), internal)
	fmt.Println(c.Subject, err)
	// Output: alice <nil>
}
