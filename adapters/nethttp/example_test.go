package nethttp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/jwtgate/jwtgate/adapters/nethttp"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func ExampleHandle() {
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}}) // a test identity provider on loopback
	defer idp.Close()
	keys, _ := cache.New(context.Background(), cache.Config{Issuer: idp.Issuer(), WaitForFirstLoad: true, Logger: slog.New(slog.DiscardHandler)})
	defer keys.Close()
	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{idp.Issuer()}})

	mux := http.NewServeMux()
	nethttp.Handle(mux, "GET /items", v, func(w http.ResponseWriter, r *http.Request) {
		c, _ := nethttp.Claims(r)
		fmt.Fprintf(w, "items for %s", c.Subject)
	})
	nethttp.Handle(mux, "DELETE /items/{id}", v, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "deleted %s", r.PathValue("id"))
	}, "admin")

	user, _ := idp.Sign(jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}}, jwtgatetest.MintOptions{})
	admin, _ := idp.Sign(jwtgatetest.Claims{Subject: "root", Scopes: []string{"admin"}}, jwtgatetest.MintOptions{})
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/items", user}, {"DELETE", "/items/7", user}, {"DELETE", "/items/7", admin},
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(c.method, c.path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// GET /items 200 items for alice
	// DELETE /items/7 403 {"error":"insufficient_scope","error_description":"insufficient scope"}
	// DELETE /items/7 200 deleted 7
}

func ExampleHandlerFunc() {
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	defer idp.Close()
	keys, _ := cache.New(context.Background(), cache.Config{Issuer: idp.Issuer(), WaitForFirstLoad: true, Logger: slog.New(slog.DiscardHandler)})
	defer keys.Close()
	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{idp.Issuer()}})

	h := nethttp.HandlerFunc(v, func(w http.ResponseWriter, r *http.Request, c *middleware.Claims) {
		fmt.Fprintf(w, "%s has %v", c.Subject, c.Scopes())
	})
	tok, _ := idp.Sign(jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read", "write"}}, jwtgatetest.MintOptions{})
	req := httptest.NewRequest("GET", "/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Body.String())
	// Output: alice has [read write]
}
