package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The gateway embedded in a program of one's own: its handler mounted in
// the program's mux, next to a route the program serves itself.
func Example() {
	// An identity provider and an upstream, both on loopback.
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{})
	if err != nil {
		panic(err)
	}
	defer idp.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Jwtgate-Subject"))
	}))
	defer api.Close()

	gw, err := gateway.New(context.Background(), gateway.Config{
		Issuer:    idp.Issuer(),
		Audiences: []string{"api"},
		Routes: []gateway.Route{{
			Prefix: "/api/", Upstream: api.URL, Scopes: []string{"read"},
			ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject"},
		}},
	}, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.WaitReady(ctx); err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/", gw.Handler()) // the routes, /healthz, /readyz, /metrics
	mux.HandleFunc("GET /mine", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "my own route")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tok, err := idp.Sign(jwtgatetest.Claims{Subject: "alice", Audience: "api", Scopes: []string{"read"}}, jwtgatetest.MintOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("ready:", gw.Ready())
	for _, c := range []struct{ path, token string }{{"/api/hello", tok}, {"/api/hello", ""}, {"/mine", ""}} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d %s\n", c.path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// ready: true
	// /api/hello 200 hello alice
	// /api/hello 401 {"error":"unauthorized","error_description":"authentication required"}
	// /mine 200 my own route
}
